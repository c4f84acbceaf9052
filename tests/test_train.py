"""One training run end to end on tiny twins (ci profile): the run file, determinism, skips."""

import json
import math

import numpy as np
import pytest

from benchmark.data import Example
from benchmark.errors import UserError
from benchmark.results import HISTORY_KEYS, PROVENANCE_KEYS, RUN_KEYS, RunRecord, run_path
from benchmark.tasks.base import frame_targets, make_splits
from benchmark.train import run_cell

# Keep runs tiny: one epoch is enough to move every weight.
FAST = ["train.epochs=1"]


def _check_schema(run: dict, dataset: str, system: str):
    assert set(RUN_KEYS) <= set(run), set(RUN_KEYS) - set(run)
    assert run["schema_version"] == 3
    assert (run["dataset"], run["system"], run["profile"], run["data_source"]) == \
        (dataset, system, "ci", "twin")
    assert set(HISTORY_KEYS) <= set(run["history"])
    n = len(run["history"]["epoch"])
    assert n >= 1 and all(len(run["history"][k]) == n for k in ("loss", "val_loss", "val_main"))
    assert 1 <= run["history"]["best_epoch"] <= n
    assert set(PROVENANCE_KEYS) <= set(run["provenance"])
    assert run["provenance"]["twin"] == {"size": "tiny", "seed": 0}
    assert set(run["metric_directions"]) == {k for k, v in run["metrics"].items()
                                             if not isinstance(v, list)}
    assert run["main_metric"] in run["metrics"]
    for v in run["metrics"].values():
        assert all(math.isfinite(x) for x in (v if isinstance(v, list) else [v]))
    assert set(run["features"]) == {"sample_rate", "n_mels", "fmin", "fmax", "hop_ms", "win_ms"}
    assert isinstance(run["history"]["selected_last_epoch"], bool)
    _check_outputs(run)


def _check_outputs(run: dict):
    """Every metric of the run is recomputed exactly from its per-item outputs."""
    from benchmark.metrics import METRICS, from_outputs

    assert run["outputs"], "the run stores no per-item outputs"
    checked = [m for m in run["metrics"] if m in METRICS]
    assert checked and all(METRICS[m].block in run["outputs"] for m in checked)
    for m in checked:
        assert from_outputs(m, run["outputs"]) == pytest.approx(run["metrics"][m], abs=1e-12), m


def test_clip_run_writes_schema_is_deterministic_and_skips(tmp_path, capsys):
    a = run_cell("urbansound8k", "learnable_gabor", profile="ci", out=tmp_path / "a",
                 overrides=FAST, progress=False)
    assert a == run_path(tmp_path / "a", "urbansound8k", "learnable_gabor", 0, 1)
    run = json.loads(a.read_text())
    _check_schema(run, "urbansound8k", "learnable_gabor")
    assert set(run["metrics"]) == {"accuracy", "balanced_accuracy", "macro_f1"}
    assert run["params"]["frontend_trainable"] == 4 * run["config"]["frontend"]["filters"]
    g = run["gabor"]
    assert g["learnable"] is True and len(g["init"]["sigma_t"]) == run["config"]["frontend"]["filters"]
    assert g["init"] != g["final"]  # learnable parameters moved
    assert (tmp_path / "a" / run["model_path"]).is_file()
    assert "validation fold 2" in run["run"]["splits"]
    assert len(run["run"]["classes"]) == 10

    # The same command again (elsewhere) gives the same numbers.
    b = run_cell("urbansound8k", "learnable_gabor", profile="ci", out=tmp_path / "b",
                 overrides=FAST, progress=False)
    run_b = json.loads(b.read_text())
    assert run_b["metrics"] == run["metrics"]
    assert run_b["history"] == run["history"]
    assert run_b["config_hash"] == run["config_hash"]

    # Existing result with the same configuration: skipped, untouched.
    mtime = a.stat().st_mtime_ns
    capsys.readouterr()
    assert run_cell("urbansound8k", "learnable_gabor", profile="ci", out=tmp_path / "a",
                    overrides=FAST, progress=False) == a
    assert "skip" in capsys.readouterr().out
    assert a.stat().st_mtime_ns == mtime
    assert [RunRecord.load(f).system for f in sorted((tmp_path / "a" / "runs").rglob("*.json"))] \
        == ["learnable_gabor"]


def test_sad_run_writes_detection_metrics(tmp_path):
    p = run_cell("ami", "mel", profile="ci", out=tmp_path, overrides=["train.epochs=1"],
                 progress=False)
    run = json.loads(p.read_text())
    _check_schema(run, "ami", "mel")
    assert run["fold"] is None and run["gabor"] is None
    assert set(run["metrics"]) == {"detection_error_rate", "false_alarm_rate", "miss_rate"}
    assert run["metric_directions"]["detection_error_rate"] == "min"
    assert run["params"]["frontend_trainable"] == 0
    assert set(run["run"]["binarize"]) >= {"onset", "offset"}
    # thresholds are tuned on dev during training too, and recorded per epoch
    assert all(set(x["thresholds"]) >= {"onset", "offset"} for x in run["history"]["val_extra"])
    assert run["run"]["noise"].startswith("musan (twin")


def test_speaker_run_stores_trials_and_identification_outputs(tmp_path):
    p = run_cell("voxceleb1", "mel", profile="ci", out=tmp_path, overrides=["train.epochs=1"],
                 progress=False)
    run = json.loads(p.read_text())
    _check_schema(run, "voxceleb1", "mel")
    trials = run["outputs"]["verification"]
    # trials are resampled by enrolment speaker: the unit is the speaker folder of the enrolment
    assert all(u == e.split("/")[1] for u, e in zip(trials["unit"], trials["enroll"]))
    assert set(trials["target"]) == {0, 1} and len(set(trials["item"])) == len(trials["item"])
    ident = run["outputs"]["classification"]
    assert len(ident["item"]) == run["run"]["n_test"]
    assert run["main_metric"] == "eer" and {"eer", "eer_snorm", "accuracy"} <= set(run["metrics"])
    assert 0.0 <= run["metrics"]["eer_snorm"] <= 1.0 and "score_snorm" in trials
    assert run["metric_directions"]["eer_snorm"] == "min"
    assert run["config"]["protocol"]["snorm_top_n"] == 400


def test_paper_profile_never_falls_back_to_a_twin(tmp_path):
    with pytest.raises(UserError, match="gaborbench download urbansound8k"):
        run_cell("urbansound8k", "mel", profile="paper", out=tmp_path, progress=False)
    assert not (tmp_path / "runs").exists()


def test_bad_override_fails_before_any_work(tmp_path):
    with pytest.raises(UserError, match="did you mean 'train.epochs'"):
        run_cell("urbansound8k", "mel", profile="ci", out=tmp_path, overrides=["train.epoch=1"])
    with pytest.raises(UserError, match="train.batch_size expects an int"):
        run_cell("urbansound8k", "mel", profile="ci", out=tmp_path, overrides=["train.batch_size=x"])


def test_fold_splits_never_validate_on_the_test_fold():
    exs = [Example(id=f"{f}-{i}", path="", label="a", group=f"g{f}", fold=f)
           for f in range(1, 6) for i in range(2)]
    s = make_splits(exs, 5)
    assert {e.fold for e in s.test} == {5}
    assert {e.fold for e in s.val} == {1}  # the next fold, cyclically
    assert {e.fold for e in s.train} == {2, 3, 4}
    two = make_splits([e for e in exs if e.fold in (1, 2)], 1)
    assert {e.fold for e in two.test} == {1} and {e.fold for e in two.train + two.val} == {2}
    assert not {e.group for e in two.train} & {e.group for e in two.val}
    with pytest.raises(UserError, match="fold 7 does not exist"):
        make_splits(exs, 7)


def test_frame_targets_use_frame_centres():
    y = frame_targets([(0.1, 0.3)], 5, 10.0)  # frames at 0.0, 0.1, 0.2, 0.3, 0.4 s
    np.testing.assert_array_equal(y, [0, 1, 1, 0, 0])


def test_killed_run_leaves_no_result_and_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from benchmark.tasks.clip import ClipClassification

    args = dict(profile="ci", out=tmp_path, progress=False,
                overrides=["train.checkpoint=true", "train.epochs=3", "train.patience=3"])
    real = ClipClassification.validate
    calls = []

    def dies_in_epoch_two(self, model, epoch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, model, epoch)

    monkeypatch.setattr(ClipClassification, "validate", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run_cell("zebra_finch", "learnable_gabor", **args)
    ckpt = tmp_path / "checkpoints" / "zebra_finch" / "learnable_gabor" / "seed0_fold1"
    assert json.loads((ckpt / "latest.json").read_text())["epoch"] == 1
    assert not (tmp_path / "runs").exists()
    assert not list(ckpt.glob(".*tmp*"))  # no temporary file left behind

    monkeypatch.setattr(ClipClassification, "validate", real)
    run = json.loads(run_cell("zebra_finch", "learnable_gabor", **args).read_text())
    assert run["history"]["epoch"] == [1, 2, 3]
    assert run["run"]["resumed_from_epoch"] == 1  # said in the run file (and the table footer)
    assert not ckpt.exists()  # removed once the run file is written


def test_an_unreadable_checkpoint_is_discarded_not_stuck(tmp_path, monkeypatch, capsys):
    from benchmark.tasks.clip import ClipClassification

    args = dict(profile="ci", out=tmp_path, progress=False,
                overrides=["train.checkpoint=true", "train.epochs=2", "train.patience=2"])
    real = ClipClassification.validate

    def dies_after_one(self, model, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(self, model, epoch)

    monkeypatch.setattr(ClipClassification, "validate", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        run_cell("zebra_finch", "mel", **args)
    ckpt = tmp_path / "checkpoints" / "zebra_finch" / "mel" / "seed0_fold1"
    model = ckpt / json.loads((ckpt / "latest.json").read_text())["model"]
    model.write_bytes(model.read_bytes()[:100])  # truncated by a crash or a full disk
    monkeypatch.setattr(ClipClassification, "validate", real)
    capsys.readouterr()
    run = json.loads(run_cell("zebra_finch", "mel", **args).read_text())
    assert "discarding the unreadable checkpoint" in capsys.readouterr().out
    assert run["history"]["epoch"] == [1, 2] and run["run"]["resumed_from_epoch"] is None


def test_out_naming_a_file_fails_before_any_work(tmp_path):
    f = tmp_path / "results.txt"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file, not a folder"):
        run_cell("urbansound8k", "mel", profile="ci", out=f)
