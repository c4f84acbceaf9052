"""Evidence maps read from written twin files: the planted ripples are where the classes differ."""

from __future__ import annotations

import numpy as np

from benchmark import twins, units
from benchmark.adapters import read_dataset
from benchmark.data import PreparedDataset
from benchmark.evidence import evidence_map, separation_map
from benchmark.twins import ripples


def test_separation_map_is_zero_without_and_one_with_a_clean_split():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4, 3))
    labels = np.array(["a", "b"] * 20)
    x[labels == "a", 1, 2] += 100.0          # one cell separates perfectly
    sep = separation_map(x, labels)
    assert sep[1, 2] == 1.0 and np.median(sep) < 0.3


def test_ripples_evidence_peaks_at_the_planted_points(tmp_path, monkeypatch):
    from benchmark.tasks.calibration import Calibration

    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    root = twins.synth("ripples", tmp_path / "twin", size="tiny", seed=3)
    exs = read_dataset("ripples", root).examples
    prepared = PreparedDataset("ripples", "twin", str(root), exs, [], [], "", "test")
    cfg = Calibration.features
    emap = evidence_map(prepared, cfg, n=80)
    assert emap is not None and len(emap.classes) == 4
    fr, bpo = cfg.frame_rate_hz, units.mel_bins_per_octave(cfg.n_mels, cfg.fmin, cfg.fmax_hz)
    # the ripple whose rate and scale partners differ (12 Hz, 4 cyc/oct) stands out
    pts = [(r / fr, -d * s / bpo) for r, s, d in ripples.VARIANTS["A"].values()]
    at = emap.at([p[0] for p in pts], [p[1] for p in pts])
    assert at.min() > np.percentile(emap.separation, 90), at
    again = evidence_map(prepared, cfg, n=80)          # cached: the same map
    assert np.array_equal(again.separation, emap.separation)


def test_overlap_grows_when_a_bank_moves_onto_the_evidence(tmp_path, monkeypatch):
    """A bank at the planted ripples overlaps the ripples' map more than one at low modulation."""
    from benchmark.kernels import bank_transfer
    from benchmark.tasks.calibration import Calibration

    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    root = twins.synth("ripples", tmp_path / "twin", size="tiny", seed=3)
    prepared = PreparedDataset("ripples", "twin", str(root), read_dataset("ripples", root).examples,
                               [], [], "", "test")
    cfg = Calibration.features
    emap = evidence_map(prepared, cfg, n=80)
    assert emap.excess.max() > 0 and (emap.excess > 0).mean() < 0.2
    fr, bpo = cfg.frame_rate_hz, units.mel_bins_per_octave(cfg.n_mels, cfg.fmin, cfg.fmax_hz)

    def bank(points):
        w_t = np.array([2 * np.pi * r / fr for r, _, _ in points])
        w_f = np.array([2 * np.pi * d * s / bpo for _, s, d in points])   # upward: opposite signs
        params = {"sigma_t": np.full(len(points), 3.0), "sigma_f": np.full(len(points), 2.0),
                  "frequency": np.hypot(w_t, w_f), "orientation": -np.arctan2(w_f, w_t)}
        b, _, _ = bank_transfer(params, (15, 7))
        return float((b * emap.excess).sum() / b.sum())

    on = bank(list(ripples.VARIANTS["A"].values()))
    low = bank([(1.0, 0.2, 1), (1.5, 0.1, -1), (0.5, 0.3, 1), (2.0, 0.1, -1)])
    assert on > 2 * low, (on, low)


def test_evidence_rows_and_planted_marks_on_constructed_runs():
    """A bank moved onto the evidence gains overlap beyond its permuted run; a frozen one
    reads 0; every planted ripple sits where the map separates, with its velocity."""
    from _report_fixtures import BINS_PER_OCT, gabor_run, on_points

    from benchmark.evidence import EvidenceMap
    from benchmark.report import evidence

    rng = np.random.default_rng(0)
    fr = 50.0
    init = {"sigma_t": rng.uniform(2, 5, 8).tolist(), "sigma_f": rng.uniform(1.5, 3, 8).tolist(),
            "frequency": rng.uniform(0.05, 0.2, 8).tolist(),
            "orientation": rng.uniform(-np.pi, np.pi, 8).tolist()}
    points = [e for c in ripples.planted("A").values() for e in c]
    planted = {"dataset": "ripples", "note": "test", "classes": ripples.planted("A")}
    sep = np.zeros((256, 128))
    for e in points:   # separation only around the planted ripples (and their conjugates)
        i, j = round(e["temporal_hz"] / fr * 256), round(-e["direction"] * e["spectral_cyc_per_oct"]
                                                         / BINS_PER_OCT * 128)
        for s in (1, -1):
            sep[(s * i + np.arange(-3, 4)[:, None]) % 256, (s * j + np.arange(-2, 3)[None]) % 128] = 0.8
    emap = EvidenceMap(sep, np.fft.fftfreq(256), np.fft.fftfreq(128), ("a", "b", "c", "d"), 100, 0.0)
    other = [dict(e, temporal_hz=1.0, spectral_cyc_per_oct=0.2) for e in points]
    runs = [gabor_run("ripples", 0, init, on_points(init, points, fr), frame_rate=fr, planted=planted),
            gabor_run("ripples", 0, init, init, frame_rate=fr, learnable=False, system="fixed_gabor",
                      planted=planted),
            gabor_run("ripples", 0, init, on_points(init, other, fr), frame_rate=fr,
                      system="learnable_gabor+permuted", planted=planted)]
    rows = {r.system: r for r in evidence.evidence_rows(runs, {"ripples": emap})}
    assert set(rows) == {"learnable_gabor", "fixed_gabor"}
    learn, frozen = rows["learnable_gabor"], rows["fixed_gabor"]
    assert learn.change > 0 and learn.permuted_change < learn.change and learn.beats_null
    assert frozen.change == 0 and not frozen.beats_null
    marks = evidence.planted_marks(runs, {"ripples": emap})
    assert len(marks) == 4 and all(m["discriminative"] for m in marks)
    assert {m["class"]: np.sign(m["velocity_oct_per_s"]) for m in marks}["down_6hz_2cyc"] == -1
    csv = evidence.evidence_csv(list(rows.values()), {"ami": "prepared data not found"})
    assert csv.splitlines()[-1].startswith("ami,") and "skipped: prepared data not found" in csv
    assert evidence.planted_csv(marks).splitlines()[0].startswith("dataset,class,velocity_oct_per_s")
