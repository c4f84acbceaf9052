"""Recovery read against the data: the bank's overlap with the dataset's evidence map.

The evidence map (:mod:`benchmark.evidence`) says, per cell of the 2-D modulation
spectrum, how well a dataset's classes separate there, read from its written
files. A bank's overlap with it is the map averaged under the bank's modulation
transfer (:func:`benchmark.kernels.bank_transfer`, normalised to unit sum): how
discriminative the modulations it passes are (the map's excess over the floor
that shuffled labels reach). Recovery's second reading is the
change of that overlap from the initial to the final filters, beside the same
change in the label-permuted runs (``<system>+permuted``: training without the
labels' information) and the frozen systems (0 by construction). The planted
lists stay for reading, each entry marked discriminative or not by the map.

The maps need the prepared data the runs were trained on (the run's recorded
data root, with the same manifest checksum); without it a dataset is skipped
and the reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark import kernels
from benchmark.report import analysis, nulls
from benchmark.report.runs import Run

DISCRIMINATIVE_PERCENTILE = 90.0   # a planted point is discriminative above this percentile


def _prepared(run: Run):
    """(PreparedDataset, None) for the run's data, or (None, why not)."""
    from pathlib import Path

    from benchmark.prepare import prepare

    root = run.provenance.get("data_root")
    if not root or not Path(root).is_dir():
        return None, f"prepared data not found (data root {root or 'not recorded'})"
    try:
        prepared = prepare(run.dataset, root, progress=False)
    except Exception as e:   # an unreadable or changed dataset: say so, build the rest
        return None, f"data root {root} could not be read ({type(e).__name__})"
    want = run.provenance.get("data_checksum")
    if want and prepared.checksum != want:
        return None, f"data under {root} differs from the runs' (checksum {prepared.checksum} != {want})"
    return prepared, None


def evidence_maps(runs: list[Run]) -> tuple[dict, dict[str, str]]:
    """dataset -> EvidenceMap for datasets with Gabor runs; dataset -> why skipped."""
    from benchmark.evidence import evidence_map

    maps, skipped = {}, {}
    for dataset in analysis.dataset_order({r.dataset for r in runs if r.gabor is not None}):
        run = next(r for r in runs if r.dataset == dataset and r.gabor is not None)
        prepared, why = _prepared(run)
        cfg = analysis.feature_config(run)
        if prepared is None or cfg is None:
            skipped[dataset] = why or "feature settings not recorded"
            continue
        emap = evidence_map(prepared, cfg)
        if emap is None:
            skipped[dataset] = "fewer than two labelled classes in the drawn patches"
        else:
            maps[dataset] = emap
    return maps, skipped


def overlap(run: Run, which: str, emap) -> float:
    """The map's excess separation (above its shuffled-label floor) averaged under the
    bank's transfer (normalised to unit sum)."""
    g = run.gabor
    bank, _, _ = kernels.bank_transfer(analysis.gabor_arrays(g[which]), tuple(g["kernel_size"]),
                                       analysis._grid_of(run), emap.separation.shape)
    return float((bank * emap.excess).sum() / bank.sum())


@dataclass(frozen=True)
class EvidenceRow:
    dataset: str
    system: str
    learnable: bool
    n_runs: int
    overlap_init: float
    overlap_final: float
    change: float
    change_ci95: tuple[float, float] | None
    permuted_change: float | None     # mean over the system's label-permuted runs

    @property
    def beats_null(self) -> bool:
        """Overlap grew (interval above 0 where there is one) and more than without labels."""
        up = self.change > 0 and (self.change_ci95 is None or self.change_ci95[0] > 0)
        return self.learnable and up and (self.permuted_change is None
                                          or self.change > self.permuted_change)


def evidence_rows(runs: list[Run], maps: dict) -> list[EvidenceRow]:
    rows = []
    groups = analysis._gabor_groups([r for r in runs if r.dataset in maps], learnable_only=False)
    for (dataset, system), group in groups.items():
        if nulls.is_permuted(group[0]):
            continue
        emap = maps[dataset]
        a = np.array([overlap(r, "init", emap) for r in group])
        b = np.array([overlap(r, "final", emap) for r in group])
        perm = [r for (d, s), g in groups.items() if d == dataset
                and s == system + nulls.PERMUTED_SUFFIX for r in g]
        pc = (float(np.mean([overlap(r, "final", emap) - overlap(r, "init", emap) for r in perm]))
              if perm else None)
        rows.append(EvidenceRow(dataset, system, bool(all(r.gabor["learnable"] for r in group)),
                                len(group), float(a.mean()), float(b.mean()),
                                analysis._tidy(float((b - a).mean())), analysis.ci95(b - a), pc))
    return rows


def planted_marks(runs: list[Run], maps: dict) -> list[dict]:
    """Each planted entry with the map's separation at its point and its percentile, and its
    velocity (octaves per second, + upward: rate / scale; sweeps and moving ripples only),
    what a sweep is defined by."""
    out = []
    for dataset, emap in maps.items():
        run = next((r for r in runs if r.dataset == dataset and r.planted), None)
        if run is None or run.gabor is None:
            continue
        fr, bpo = float(run.gabor["frame_rate_hz"]), float(np.median(run.gabor["mel_bins_per_octave"]))
        for e in run.planted:
            d = e["direction"] or 1
            val = float(emap.at(e["temporal_hz"] / fr, -d * e["spectral_cyc_per_oct"] / bpo))
            pct = float((emap.separation < val).mean() * 100)
            moving = e["direction"] != 0 and e["temporal_hz"] > 0 and e["spectral_cyc_per_oct"] > 0
            vel = e["direction"] * e["temporal_hz"] / e["spectral_cyc_per_oct"] if moving else None
            out.append({"dataset": dataset, "class": e.get("class", ""), "velocity_oct_per_s": vel,
                        "temporal_hz": e["temporal_hz"],
                        "spectral_cyc_per_oct": e["spectral_cyc_per_oct"], "direction": e["direction"],
                        "separation": val, "percentile": pct,
                        "discriminative": pct >= DISCRIMINATIVE_PERCENTILE})
    return out


def _f(x) -> str:
    return "" if x is None else f"{x:.4f}"


def evidence_csv(rows: list[EvidenceRow], skipped: dict[str, str]) -> str:
    lines = ["dataset,system,learnable,n_runs,overlap_init,overlap_final,change,change_ci_low,"
             "change_ci_high,permuted_change,beats_null,note"]
    for r in rows:
        lo, hi = r.change_ci95 or (None, None)
        lines.append(f"{r.dataset},{r.system},{str(r.learnable).lower()},{r.n_runs},"
                     f"{r.overlap_init:.4f},{r.overlap_final:.4f},{r.change:.4f},{_f(lo)},{_f(hi)},"
                     f"{_f(r.permuted_change)},{str(r.beats_null).lower()},")
    for d, why in skipped.items():
        lines.append(f"{d},,,,,,,,,,,skipped: {why.replace(',', ';')}")
    return "\n".join(lines) + "\n"


def planted_csv(marks: list[dict]) -> str:
    lines = ["dataset,class,velocity_oct_per_s,temporal_hz,spectral_cyc_per_oct,direction,"
             "separation,percentile,discriminative"]
    for m in marks:
        vel = "" if m["velocity_oct_per_s"] is None else f"{m['velocity_oct_per_s']:+.3f}"
        lines.append(f"{m['dataset']},{m['class']},{vel},{m['temporal_hz']},{m['spectral_cyc_per_oct']},"
                     f"{m['direction']},{m['separation']:.4f},{m['percentile']:.1f},"
                     f"{str(m['discriminative']).lower()}")
    return "\n".join(lines) + "\n"
