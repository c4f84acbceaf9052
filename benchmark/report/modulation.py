"""The filters in modulation space: read from the built kernels, placed in log units.

A filter's place is read from the 2-D DFT of the kernel the layer convolves with
(:func:`benchmark.kernels.kernel_modulation`), never from its parameters, and put
in signed log-modulation space, where distances and changes are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from benchmark import units
from benchmark.kernels import gabor_kernels_np
from benchmark.report.order import dataset_order, system_order
from benchmark.report.runs import GABOR_KEYS, Run


def gabor_arrays(block: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(block[k], dtype=float) for k in GABOR_KEYS}


def modulations(params: dict, frame_rate_hz: float, mel_bins_per_octave: float,
                spacing: tuple[float, float] = (1.0, 1.0)) -> dict[str, np.ndarray]:
    """Temporal Hz, spectral cycles/octave and sweep direction as float arrays."""
    m = units.modulations(params, frame_rate_hz, mel_bins_per_octave, spacing=spacing)
    return {k: np.asarray(m[k], dtype=float) for k in ("temporal_hz", "spectral_cyc_per_oct", "direction")}


def _grid_of(run: Run) -> str:
    """The kernel grid a run used: ``gabor.grid``, else its config, else "centered"."""
    if run.gabor.get("grid") in ("centered", "reference"):
        return run.gabor["grid"]
    cfg = run.config
    for block in (cfg, cfg.get("frontend"), cfg.get("model")):
        if isinstance(block, dict) and block.get("grid") in ("centered", "reference"):
            return block["grid"]
    return "centered"


def run_modulations(run: Run, which: str = "final") -> dict[str, np.ndarray]:
    """The run's filters in modulation space, read from the 2-D DFT of the built
    kernels (peak, half-power bandwidths, resolved axes), not from the parameters:
    see :func:`benchmark.kernels.kernel_modulation`."""
    from benchmark.kernels import kernel_modulation

    g = run.gabor
    return kernel_modulation(gabor_arrays(g[which]), tuple(g["kernel_size"]), g["frame_rate_hz"],
                             g["mel_bins_per_octave"], _grid_of(run))


def run_kernels(run: Run) -> tuple[np.ndarray, np.ndarray]:
    p = gabor_arrays(run.gabor["final"])
    return gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                            run.gabor["kernel_size"], grid=_grid_of(run))


@dataclass(frozen=True)
class Moves:
    n: int
    temporal_up: int
    temporal_down: int
    spectral_up: int
    spectral_down: int

    def describe(self) -> str:
        return (f"of {self.n} filters, {self.temporal_up} moved to higher and "
                f"{self.temporal_down} to lower temporal modulation; "
                f"{self.spectral_up} to higher and {self.spectral_down} to lower spectral modulation")


def moves(run: Run) -> Moves:
    a, b = run_modulations(run, "init"), run_modulations(run, "final")
    dt = b["temporal_hz"] - a["temporal_hz"]
    ds = b["spectral_cyc_per_oct"] - a["spectral_cyc_per_oct"]
    return Moves(int(dt.size), int((dt > 0).sum()), int((dt < 0).sum()),
                 int((ds > 0).sum()), int((ds < 0).sum()))


def learnable_runs(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """(dataset, system) -> runs whose Gabor parameters were trained, (seed, fold) order."""
    return _gabor_groups(runs, learnable_only=True)


def _gabor_groups(runs: list[Run], learnable_only: bool) -> dict[tuple[str, str], list[Run]]:
    out: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        if r.gabor is not None and (r.gabor["learnable"] or not learnable_only):
            out.setdefault((r.dataset, r.system), []).append(r)
    ds_rank = {d: i for i, d in enumerate(dataset_order({d for d, _ in out}))}
    sys_rank = {s: i for i, s in enumerate(system_order({s for _, s in out}))}
    return {k: sorted(v, key=lambda r: r.key)
            for k, v in sorted(out.items(), key=lambda kv: (ds_rank[kv[0][0]], sys_rank[kv[0][1]]))}


# ---------------------------------------------------------------- log-modulation space
#
# A filter is a point (temporal Hz T, spectral cyc/oct S, direction). Distances
# are taken in u = log2(1 + T / 1 Hz), v = log2(1 + S / 0.1 cyc/oct): doubling a
# modulation well above the reference moves a point by 1, whatever the rate, and
# zero modulation stays finite. The sweep direction signs the spectral axis,
# w = ±v (upward +, downward -). A real-valued filter is the same for (ω_t, Ω_f)
# and (-ω_t, -Ω_f), so in the plane (±u, w) the points p and -p are one filter:
# the distance is min(|p - q|, |p + q|). That makes (0, v) and (0, -v) (a purely
# spectral filter has no direction) the same point, as they should be.

TEMPORAL_REF_HZ = 1.0
SPECTRAL_REF_CYC_PER_OCT = 0.1


def log_coords(temporal_hz, spectral_cyc_per_oct, direction) -> np.ndarray:
    """(n, 2) points (u, w) in signed log-modulation space, u >= 0."""
    u = np.log2(1 + np.asarray(temporal_hz, dtype=float) / TEMPORAL_REF_HZ)
    v = np.log2(1 + np.asarray(spectral_cyc_per_oct, dtype=float) / SPECTRAL_REF_CYC_PER_OCT)
    sign = np.where(np.asarray(direction) < 0, -1.0, 1.0)   # no direction: either sign, take +
    return np.stack([u, sign * v], axis=-1).reshape(-1, 2)


def folded_distance(p: np.ndarray, q: np.ndarray, resolved: np.ndarray | None = None) -> np.ndarray:
    """Pairwise distances (len(p), len(q)) between filters, with p and -p identified.

    ``resolved`` (len(p), 2), booleans per axis of each p: an axis on which a filter
    is unresolved (see :func:`benchmark.kernels.kernel_modulation`) is left out of
    its distances; a filter resolved on neither axis gets NaN (no distance).
    """
    p, q = np.asarray(p, dtype=float).reshape(-1, 2), np.asarray(q, dtype=float).reshape(-1, 2)
    if resolved is None:
        return np.minimum(cdist(p, q), cdist(p, -q))
    w = np.asarray(resolved, dtype=float).reshape(-1, 2)[:, None, :]
    d = np.minimum(np.sqrt((w * (p[:, None, :] - q[None]) ** 2).sum(-1)),
                   np.sqrt((w * (p[:, None, :] + q[None]) ** 2).sum(-1)))
    d[~np.asarray(resolved, dtype=bool).reshape(-1, 2).any(axis=1)] = np.nan
    return d


def run_points(run: Run, which: str = "final") -> np.ndarray:
    m = run_modulations(run, which)
    return log_coords(m["temporal_hz"], m["spectral_cyc_per_oct"], m["direction"])


def run_resolved(run: Run) -> np.ndarray:
    """(filters, 2): whether each filter's kernel resolves the (temporal, spectral) axis
    both at init and at the end, the axes its recovery distances may use."""
    a, b = run_modulations(run, "init"), run_modulations(run, "final")
    return np.stack([a["resolved_t"] & b["resolved_t"], a["resolved_f"] & b["resolved_f"]], axis=1)


def run_changes(run: Run) -> np.ndarray:
    """Per filter, final - init in log-modulation space, (n, 2).

    Of the two equivalent final points (p, -p) the one nearer the initial point is
    taken: a filter that crossed zero temporal modulation moved a little, not across
    the plane.
    """
    a, b = run_points(run, "init"), run_points(run, "final")
    flip = np.linalg.norm(-b - a, axis=1) < np.linalg.norm(b - a, axis=1)
    return np.where(flip[:, None], -b, b) - a


def modulation_shift(group: list[Run]) -> float:
    """Median over filters and runs of the distance moved in log-modulation space."""
    return float(np.median(np.concatenate([np.linalg.norm(run_changes(r), axis=1) for r in group])))
