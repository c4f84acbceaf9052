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
