"""The calibration twin: its planted points are the evidence, and the pipeline finds them.

The files are read as a run reads them: written by the generator, listed by the
real (ESC-50) adapter, turned into log-mel by the task's own feature settings.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmark import twins, units
from benchmark.adapters import read_dataset
from benchmark.twins import ripples


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Both variants, tiny size, as log-mel (clips, frames, bands) with their labels."""
    from benchmark.features import logmel_file
    from benchmark.tasks.calibration import Calibration

    cfg = Calibration.features
    out = {}
    for name, variant in (("ripples", "A"), ("ripples_b", "B")):
        root = twins.synth(name, tmp_path_factory.mktemp(name) / "twin", size="tiny", seed=3)
        exs = read_dataset(name, root).examples
        mels = np.array([logmel_file(e.path, cfg) for e in exs])
        out[variant] = (mels, np.array([e.label for e in exs]), np.array([e.fold for e in exs]))
    bpo = units.mel_bins_per_octave(cfg.n_mels, cfg.fmin, cfg.fmax_hz)
    return out, cfg.frame_rate_hz, bpo


def _cv(features, labels, groups) -> float:
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=100.0))
    return cross_val_score(clf, features, labels, groups=groups, cv=GroupKFold(n_splits=5)).mean()


def _modulation_spectra(mels):
    """log |2-D DFT| of each clip's log-mel (Hann-windowed on both axes, mean removed)."""
    w = np.hanning(mels.shape[1])[:, None] * np.hanning(mels.shape[2])[None, :]
    spec = np.abs(np.fft.fft2((mels - mels.mean(axis=(1, 2), keepdims=True)) * w, axes=(1, 2)))
    return np.log(spec + 1e-3)


def _near(shape, frame_rate, bpo, variant, radius_bins):
    """Bins within ``radius_bins`` (an ellipse in DFT bins) of any planted point of ``variant``.

    A ripple exp(i2π(ω t - d Ω x)) sits at (ω, -dΩ) and its conjugate at (-ω, dΩ).
    """
    nt, nf = shape
    ft = np.fft.fftfreq(nt) * frame_rate
    ff = np.fft.fftfreq(nf) * bpo
    tt, vv = np.meshgrid(ft, ff, indexing="ij")
    mask = np.zeros(shape, dtype=bool)
    for rate, scale, d in ripples.VARIANTS[variant].values():
        for a, b in ((rate, -d * scale), (-rate, d * scale)):
            mask |= ((tt - a) / (radius_bins * frame_rate / nt)) ** 2 \
                + ((vv - b) / (radius_bins * bpo / nf)) ** 2 <= 1
    return mask


@pytest.mark.parametrize("variant", ["A", "B"])
def test_planted_points_are_the_evidence_in_the_written_files(written, variant):
    data, frame_rate, bpo = written
    mels, labels, folds = data[variant]
    chance = 1 / len(set(labels))
    spectra = _modulation_spectra(mels)
    near = _near(spectra.shape[1:], frame_rate, bpo, variant, 1.5)
    far = ~_near(spectra.shape[1:], frame_rate, bpo, variant, 3.0)
    average = _cv(mels.mean(axis=1), labels, folds)             # the long-term spectrum
    at_points = _cv(spectra[:, near], labels, folds)
    elsewhere = _cv(spectra[:, far], labels, folds)
    assert at_points >= 0.95, at_points
    assert average < chance + 0.15, average
    assert elsewhere < chance + 0.15, elsewhere
    # no duration or onset cue: every file is the same length, with the same fades
    assert len({m.shape for m in mels}) == 1


def test_variants_share_carriers_and_differ_in_points():
    a, b = ripples.VARIANTS["A"], ripples.VARIANTS["B"]
    assert set(a.values()) != set(b.values())
    for variant in (a, b):
        pts = list(variant.values())
        ref = pts[0]
        # the three partners differ from the reference in one coordinate each
        diffs = sorted(tuple(i for i in range(3) if p[i] != ref[i]) for p in pts[1:])
        assert diffs == [(0,), (1,), (2,)]
    # same clip slot and seed: same noise, level, tilt and phase, whatever the point
    x = ripples.ripple(6.0, 2.0, 1, np.random.default_rng(0))
    y = ripples.ripple(6.0, 2.0, 1, np.random.default_rng(0))
    assert np.array_equal(x, y)


def test_planted_points_are_representable_and_filters_start_far():
    from benchmark import kernels as K
    from benchmark.config import resolve_config
    from benchmark.report import analysis

    cfg = resolve_config("ripples", "learnable_gabor", "ci")
    f = cfg.features
    fr, bpo = f.frame_rate_hz, units.mel_bins_per_octave(f.n_mels, f.fmin, f.fmax_hz)
    k_t, k_f = cfg.frontend.kernel_size
    for variant in ripples.VARIANTS.values():
        for rate, scale, _ in variant.values():
            # at least one cycle across the kernel, below Nyquist
            assert fr / k_t <= rate < fr / 2 and bpo / k_f <= scale < bpo / 2, (rate, scale)
    points = np.concatenate([analysis.log_coords([r], [s], [d]) for v in ripples.VARIANTS.values()
                             for r, s, d in v.values()])
    for seed in range(20):
        p = K.initial_params(cfg.frontend.filters, np.random.default_rng(seed), cfg.frontend.init,
                             tuple(cfg.frontend.kernel_size), fr, bpo)
        for grid in K.GRIDS:
            m = K.kernel_modulation(p, cfg.frontend.kernel_size, fr, bpo, grid)
            assert m["resolved_t"].all() and m["resolved_f"].all()   # read on both axes
            start = analysis.log_coords(m["temporal_hz"], m["spectral_cyc_per_oct"], m["direction"])
            assert analysis.folded_distance(start, points).min() >= 1.0


def _mirrored(planted) -> list[dict]:
    """The planted sweeps with their direction flipped, where that is not itself planted."""
    have = {(e["temporal_hz"], e["spectral_cyc_per_oct"], e["direction"]) for e in planted}
    return [dict(e, direction=-e["direction"]) for e in planted if e["direction"] != 0
            and (e["temporal_hz"], e["spectral_cyc_per_oct"], -e["direction"]) not in have]


def test_calibration_end_to_end(tmp_path):
    """Twin -> adapter -> features -> learnable Gabor filters under the probe -> run file ->
    report: the filters must end on the planted points, beyond the null.

    The run uses the reference grid (``frontend.grid=reference``), whose tap spacing the
    conversion must get right.
    Fails with frozen parameters (gain 0), a wrong frame rate or an inverted grid
    spacing in the conversion (the points read at other rates), or a flipped sweep
    direction (filters read on the mirrored points).
    """
    from benchmark import kernels as K
    from benchmark.report import analysis, calibration, nulls
    from benchmark.report.runs import load_runs
    from benchmark.train import run_cell

    run_cell("ripples", "learnable_gabor", seed=0, profile="ci", out=tmp_path, progress=False,
             overrides=["frontend.grid=reference"])
    (run,) = load_runs(tmp_path / "runs").runs
    assert run.gabor["grid"] == "reference"
    (row,) = calibration.calibration([run])
    assert row.start_distance >= 1.0, row           # every filter starts away from every point
    assert row.passed and row.gain > 0.5, row        # nearer the points than random drift takes them
    final = analysis.run_points(run, "final")
    near = nulls.evidence_matrix(final, run.planted).min(axis=0) < 0.5
    assert near.sum() >= 3, near                     # at least three of the four class points reached
    # ... in their own sweep direction: the mirrored sweeps are not approached
    init = analysis.run_points(run, "init")
    mirrored = _mirrored(run.planted)
    assert nulls.coverage_gain(init, final, run.planted) > nulls.coverage_gain(init, final, mirrored) + 0.5
    # ... and what the bank passes (its transfer, as the cross-over reads it) grew more at the
    # planted sweeps than at their mirror images
    assert calibration.transfer_change(run, run.planted) > calibration.transfer_change(run, mirrored)
    # The parameter conversion (grid spacing included) says what the trained kernels do.
    g = run.gabor
    spacing = tuple(K.grid_spacing(k, g["grid"]) for k in g["kernel_size"])
    said = units.modulations(g["final"], g["frame_rate_hz"], g["mel_bins_per_octave"], spacing=spacing)
    read = analysis.run_modulations(run, "final")
    ok = read["resolved_t"] & read["resolved_f"] & (read["temporal_hz"] > 2) & (read["spectral_cyc_per_oct"] > 0.5)
    assert ok.sum() >= 3
    np.testing.assert_allclose(said["temporal_hz"][ok], read["temporal_hz"][ok], rtol=0.1)
    np.testing.assert_allclose(said["spectral_cyc_per_oct"][ok], read["spectral_cyc_per_oct"][ok], rtol=0.1)
