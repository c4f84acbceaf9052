"""``gaborbench compare``: a fresh results folder against a reference one."""

import json
import shutil

import pytest
from _report_fixtures import write_fixture_runs

from benchmark.cli import main
from benchmark.report.compare import compare, tolerance

BROKEN = ("urbansound8k", "mel", "seed9")   # the fixture's unreadable run file


@pytest.fixture
def folders(tmp_path):
    """A reference folder and an identical copy, without the fixture's unreadable file."""
    ref = tmp_path / "ref"
    write_fixture_runs(ref)
    (ref / "runs" / "/".join(BROKEN)).with_suffix(".json").unlink()
    new = tmp_path / "new"
    shutil.copytree(ref, new)
    return new, ref


def _edit(root, cell, change):
    path = root / "runs" / f"{cell}.json"
    run = json.loads(path.read_text())
    change(run)
    path.write_text(json.dumps(run))


def test_identical_folders_reproduce_bit_for_bit(folders, capsys):
    new, ref = folders
    c = compare(new, ref)
    assert c.reproduced and c.same and not c.different and not c.within
    assert main(["compare", str(new), str(ref), "--strict"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("REPRODUCED (bit-identical)")


def test_same_machine_expects_the_last_digit(folders, capsys):
    new, ref = folders
    _edit(new, "ami/mel/seed0", lambda r: r["metrics"].__setitem__(
        "detection_error_rate", r["metrics"]["detection_error_rate"] + 1e-12))
    (new / "runs" / "ami" / "mel" / "seed1.json").unlink()
    c = compare(new, ref)
    assert not c.agrees
    assert [d.split(":")[0] for d in c.different] == ["ami/mel/seed0"]
    assert "bit-identical expected" in c.different[0]
    assert c.only_reference == ["ami/mel/seed1"]
    assert main(["compare", str(new), str(ref), "--strict"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "DIFFERENT: cells ami/mel/seed0" in out
    assert "INCOMPLETE: cells 1 only in the reference" in out
    assert not any(line.startswith(("REPRODUCED", "CONSISTENT")) for line in out)
    assert main(["compare", str(new.parent / "none"), str(ref)]) == 2


def _other_threads(run):
    run["provenance"]["device"] = "cpu x86_64 (tensorflow 2.21.0, 16 threads, oneDNN)"


def test_another_thread_count_is_judged_within_tolerance(folders, capsys):
    new, ref = folders
    for root in (new, ref):  # the reference ran at 2 threads, the fresh run at 16
        for path in (root / "runs").glob("*/*/*.json"):
            _edit(root, str(path.relative_to(root / "runs").with_suffix("")),
                  lambda r: r["provenance"].__setitem__(
                      "device", "cpu x86_64 (tensorflow 2.21.0, 2 threads, oneDNN)"))
    for path in (new / "runs").glob("*/*/*.json"):
        _edit(new, str(path.relative_to(new / "runs").with_suffix("")), _other_threads)

    # every metric moved by less than its tolerance: consistent, not reproduced
    def nudge(run):
        run["metrics"] = {k: [u + 0.9 * tolerance(k) for u in v] if isinstance(v, list)
                          else v + 0.9 * tolerance(k) for k, v in run["metrics"].items()}
    _edit(new, "ami/mel/seed0", nudge)
    _edit(new, "zebra_finch/learnable_gabor/seed2", nudge)
    c = compare(new, ref)
    assert c.consistent and not c.reproduced and not c.different
    assert [w.split(":")[0] for w in c.within] == ["ami/mel/seed0",
                                                    "zebra_finch/learnable_gabor/seed2"]
    assert c.reasons == ["different thread count: 16 vs 2"]
    assert c.table_same is None  # the table's numbers differ with the cells: not compared
    assert main(["compare", str(new), str(ref), "--strict"]) == 0
    verdict = capsys.readouterr().out.splitlines()[-1]
    assert verdict.startswith("CONSISTENT (different thread count: 16 vs 2: all cells within "
                              "tolerance")

    # one metric moved by more than its tolerance: different, naming the cell and the metric
    _edit(new, "zebra_finch/mel/seed1", lambda r: r["metrics"].__setitem__(
        "accuracy", r["metrics"]["accuracy"] - 1.5 * tolerance("accuracy")))
    c = compare(new, ref)
    assert not c.agrees
    assert len(c.different) == 1 and c.different[0].startswith("zebra_finch/mel/seed1: accuracy ")
    assert main(["compare", str(new), str(ref), "--strict"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "DIFFERENT: cells zebra_finch/mel/seed1"


def test_another_processor_is_named_as_the_reason(folders):
    new, ref = folders
    _edit(new, "ami/mel/seed0", lambda r: (
        r["provenance"].__setitem__("device", "NVIDIA H100 (tensorflow 2.21.0, cuda)"),
        r["metrics"].__setitem__("miss_rate", r["metrics"]["miss_rate"] + 0.001)))
    c = compare(new, ref)
    assert c.consistent and c.reasons == ["different processor: NVIDIA H100 (tensorflow 2.21.0, "
                                          "cuda) vs cpu"]
    assert "CONSISTENT (different processor" in c.verdict()[0]


def test_unreadable_cells_are_never_reproduced(folders, capsys):
    new, ref = folders
    for root in (new, ref):  # unreadable on both sides: nothing says it matches
        (root / "runs" / "/".join(BROKEN)).with_suffix(".json").write_text('{"metr', "utf-8")
    c = compare(new, ref)
    assert not c.reproduced and not c.agrees
    assert c.unreadable == ["urbansound8k/mel/seed9: new not a run file (unreadable JSON); "
                            "reference not a run file (unreadable JSON)"]
    assert main(["compare", str(new), str(ref), "--strict"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "INCOMPLETE: cells 1 unreadable"
    assert not any(line.startswith("REPRODUCED") for line in out)

    # valid JSON without metrics counts as unreadable too
    (new / "runs" / "/".join(BROKEN)).with_suffix(".json").write_text('{"seed": 9}', "utf-8")
    assert compare(new, ref).unreadable[0].startswith("urbansound8k/mel/seed9: new not a run file (run file schema None")
