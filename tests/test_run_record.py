"""The run record has one door: RunRecord.load reads and validates every run file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmark.io import write_json
from benchmark.results import SCHEMA_VERSION, RunRecord
from _report_fixtures import minimal_obj

PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"

# Modules that decode JSON, and what they read; none of it is a run file.
JSON_READERS = {
    "io.py": "defines the readers",
    "results.py": "the run record's one door",
    "adapters/chime5.py": "CHiME-5 transcription JSON",
    "bench.py": "a memory probe's output line",
    "download.py": "the downloader's verification records",
    "features.py": "the feature cache's index",
    "grid.py": "Keras' own keras.json, for the backend name (runs go through RunRecord)",
    "prepare.py": "prepared manifests and listings",
    "report/runs.py": "dataset MISSING markers and failure logs (runs go through RunRecord.load)",
    "train.py": "checkpoint state (runs go through RunRecord.load)",
    "twins/__init__.py": "a twin's completion marker",
    "twins/tts.py": "the speech synthesiser's voice list",
}


def test_no_module_but_the_record_parses_run_files():
    found = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
             if re.search(r"json\.loads?\(|read_json\(|read_record\(", p.read_text("utf-8"))}
    assert found <= set(JSON_READERS), f"new JSON readers: {sorted(found - set(JSON_READERS))}"
    readers_of_runs = ("report/compare.py", "predict.py", "transfer.py", "gpucheck.py", "grid.py")
    for name in readers_of_runs:
        assert "RunRecord" in (PACKAGE / name).read_text("utf-8"), name


def test_load_returns_a_typed_record_and_refuses_other_files(tmp_path):
    good = tmp_path / "good.json"
    write_json(good, minimal_obj("ami", "mel", 0))
    rec = RunRecord.load(good)
    assert rec.dataset == "ami" and rec.schema_version == SCHEMA_VERSION
    assert rec.outputs["classification"]["y_pred"] == [0, 1, 1, 0]
    old = tmp_path / "old.json"
    write_json(old, {**minimal_obj("ami", "mel", 0), "schema_version": 2})
    with pytest.raises(ValueError, match="rerun the cell"):
        RunRecord.load(old)
    ragged = tmp_path / "ragged.json"
    obj = minimal_obj("ami", "mel", 0)
    obj["outputs"]["classification"]["y_pred"] = [0]
    write_json(ragged, obj)
    with pytest.raises(ValueError, match="differ in length"):
        RunRecord.load(ragged)
    (tmp_path / "cut.json").write_text('{"schema_version": 3, "da', "utf-8")
    with pytest.raises(ValueError, match="unreadable JSON"):
        RunRecord.load(tmp_path / "cut.json")
    assert RunRecord.configured_hash(tmp_path / "cut.json") is None
    assert RunRecord.configured_hash(good) == "abc"
