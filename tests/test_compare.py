"""``gaborbench compare``: a fresh results folder against a reference one."""

import json
import shutil

from _report_fixtures import write_fixture_runs

from benchmark.cli import main
from benchmark.report.compare import compare


def test_identical_folders_reproduce_and_a_changed_metric_does_not(tmp_path, capsys):
    ref = tmp_path / "ref"
    write_fixture_runs(ref)
    new = tmp_path / "new"
    shutil.copytree(ref, new)
    c = compare(new, ref)
    assert c.reproduced and c.same and not c.different
    assert main(["compare", str(new), str(ref)]) == 0
    assert "REPRODUCED" in capsys.readouterr().out

    cell = new / "runs" / "ami" / "mel" / "seed0.json"
    run = json.loads(cell.read_text())
    run["metrics"]["detection_error_rate"] += 1e-12  # the last digit counts
    cell.write_text(json.dumps(run))
    (new / "runs" / "ami" / "mel" / "seed1.json").unlink()
    c = compare(new, ref)
    assert not c.reproduced
    assert [d.split(":")[0] for d in c.different] == ["ami/mel/seed0"]
    assert c.only_reference == ["ami/mel/seed1"]
    assert main(["compare", str(new), str(ref), "--strict"]) == 1
    assert "NOT REPRODUCED" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "none"), str(ref)]) == 2
