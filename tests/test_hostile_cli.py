"""Operating-system faults at every command (an output that cannot be written, a
full disk), links planted at locks and under the cache, names that reach scripts,
settings no machine could afford, and files left by kills. Each ends in one line
(or succeeds) and leaves what was there before intact."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from _report_fixtures import write_fixture_runs
from test_predict import _save_run, _wav

from benchmark.cli import main

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def full_disk():
    """Every regular-file write beyond 0 bytes fails (EFBIG), as on a full disk;
    Python ignores SIGXFSZ, so the write raises instead of killing the process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("material")
    write_fixture_runs(root / "ref")
    from _report_fixtures import run_obj

    from benchmark.io import write_json

    small = root / "small" / "runs"   # one run: a report in a second
    write_json(small / "urbansound8k" / "mel" / "seed0_fold1.json",
               run_obj("urbansound8k", "mel", 0, 1, 0.6, np.random.default_rng(0)))
    clip = _save_run(root / "res", "urbansound8k", 3, {"classes": ["a", "b", "c"]})
    wav = _wav(root / "a.wav", 0.5)
    return argparse.Namespace(root=root, runs=root / "ref" / "runs", ref=root / "ref",
                              clip=clip, wav=wav, small=small)


def _commands(m, out: Path) -> dict[str, list[str]]:
    """Every command, pointed at ``out`` wherever it writes."""
    return {
        "list": ["list", "datasets"],
        "download": ["download", "esc50"],
        "synth": ["synth", "esc50", "--out", str(out / "twin")],
        "prepare": ["prepare", "esc50", "--root", str(out / "nowhere")],
        "run": ["run", "--dataset", "urbansound8k", "--system", "mel", "--profile", "ci",
                "--out", str(out)],
        "reproduce": ["reproduce", "--profile", "ci", "--dataset", "urbansound8k",
                      "--system", "mel", "--out", str(out)],
        "plan": ["plan", "--profile", "ci", "--out", str(out)],
        "predict": ["predict", str(m.clip), str(m.wav)],
        "report": ["report", "--runs", str(m.runs), "--out", str(out)],
        "compare": ["compare", str(m.ref), str(m.ref)],
        "transfer": ["transfer", "--runs", str(m.runs), "--out", str(out)],
        "bench": ["bench", "--quick", "--out", str(out / "bench")],
        "gpu-check": ["gpu-check", "--out", str(out / "bench")],
        "clean-data": ["clean-data", "--yes"],
    }


COMMANDS = list(_commands(argparse.Namespace(clip="", wav="", runs="", ref=""), Path("x")))


def _one_line_or_success(rc: int, err: str, cmd: str) -> None:
    assert "Traceback" not in err, err
    if rc != 0:
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"gaborbench {cmd}: error: ") or "could not be predicted" in last, err


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_with_an_unwritable_output_and_home_is_one_line(material, tmp_path,
                                                                       monkeypatch, capsys, cmd):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GABORBENCH_HOME", str(blocker / "home"))   # cannot be created
    monkeypatch.setenv("GABORBENCH_MIRROR", "http://127.0.0.1:9")  # never the network
    monkeypatch.setenv("GABORBENCH_DOWNLOAD_RETRIES", "0")
    before = sorted(p.name for p in material.runs.rglob("*"))
    rc = main(_commands(material, blocker / "out")[cmd])
    _one_line_or_success(rc, capsys.readouterr().err, cmd)
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in material.runs.rglob("*")) == before


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_on_a_full_disk_is_one_line(material, tmp_path, monkeypatch, capsys, cmd):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GABORBENCH_MIRROR", "http://127.0.0.1:9")
    monkeypatch.setenv("GABORBENCH_DOWNLOAD_RETRIES", "0")
    argv = _commands(material, tmp_path / "out")[cmd]
    with full_disk():
        rc = main(argv)
    _one_line_or_success(rc, capsys.readouterr().err, cmd)
    if cmd in ("report", "run", "reproduce", "synth", "bench"):
        assert rc != 0  # it had something to write and could not


def test_report_on_a_full_disk_keeps_the_previous_tables(material, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["report", "--runs", str(material.small), "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with full_disk():
        assert main(["report", "--runs", str(material.small), "--out", str(out)]) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert "file size limit" in capsys.readouterr().err


# ------------------------------------------------------------- scripts and names


@pytest.mark.parametrize("fmt", ["shell", "slurm"])
def test_a_newline_in_out_cannot_add_a_command_to_the_plan(capsys, fmt):
    rc = main(["plan", "--profile", "ci", "--format", fmt, "--out", "res\ntouch /tmp/pwned #"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "control characters" in err


# ------------------------------------------------------------- locks and deletion


def test_a_link_at_the_download_lock_does_not_empty_its_target(tmp_path, monkeypatch, capsys):
    from benchmark import download as D

    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (tmp_path / "home" / "locks").mkdir(parents=True)
    os.symlink(victim, tmp_path / "home" / "locks" / "download-esc50.lock")
    with pytest.raises(Exception) as e:
        with D._dataset_lock("esc50"):
            pass
    assert victim.read_text() == "keep me"
    assert "symbolic link" in str(e.value)


def test_a_link_at_the_feature_cache_lock_does_not_empty_its_target(tmp_path, monkeypatch):
    from benchmark.config import resolve_config
    from benchmark.errors import UserError
    from benchmark.features import cache_folder, extract_features
    from benchmark.prepare import prepare
    from benchmark.twins import ensure_twin

    prepared = prepare("esc50", ensure_twin("esc50", size="tiny"), progress=False)
    cfg = resolve_config("esc50", "mel", "ci").features
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))  # an empty feature cache
    folder = cache_folder(prepared, cfg)
    folder.parent.mkdir(parents=True)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    os.symlink(victim, folder.parent / f".{folder.name}.lock")
    with pytest.raises(UserError, match="symbolic link"):
        extract_features(prepared, cfg, progress=False)
    assert victim.read_text() == "keep me"


def test_clean_data_deletes_only_what_the_downloader_wrote(tmp_path, monkeypatch, capsys):
    from benchmark.download import COMPLETE_MARKER

    home = tmp_path / "home"
    monkeypatch.setenv("GABORBENCH_HOME", str(home))
    elsewhere = tmp_path / "big_disk"
    (elsewhere / "esc50").mkdir(parents=True)
    (elsewhere / "esc50" / COMPLETE_MARKER).write_text("{}")
    (elsewhere / "esc50" / "a.wav").write_bytes(b"x")
    (elsewhere / "my_thesis").mkdir()
    (elsewhere / "my_thesis" / "chapter1.tex").write_text("years of work")
    home.mkdir()
    os.symlink(elsewhere, home / "data")                      # data/ on a larger disk
    (home / "downloads" / "esc50").mkdir(parents=True)
    (home / "downloads" / "esc50" / "notes.txt").write_text("mine")
    assert main(["clean-data", "--yes"]) == 0
    out = capsys.readouterr().out
    assert not (elsewhere / "esc50").exists()                    # extracted by the downloader
    assert (elsewhere / "my_thesis" / "chapter1.tex").read_text() == "years of work"
    assert (home / "downloads" / "esc50" / "notes.txt").read_text() == "mine"
    assert "leaving alone" in out and "my_thesis" in out


# ------------------------------------------------------------- resource bounds


@pytest.mark.parametrize("setting", ["features.win_ms=1e7", "train.batch_size=1000000000",
                                     "protocol.chunk_seconds=1e9", "features.n_fft=100000000"])
def test_settings_no_machine_could_afford_are_refused_before_work(tmp_path, capsys, setting):
    dataset = "ami" if setting.startswith("protocol") else "urbansound8k"
    t0 = time.perf_counter()
    rc = main(["run", "--dataset", dataset, "--system", "mel", "--profile", "ci",
               "--out", str(tmp_path / "out"), "--set", setting])
    err = capsys.readouterr().err
    assert rc == 2 and setting.split("=")[0].split(".")[1] in err and err.count("\n") == 1
    assert time.perf_counter() - t0 < 60
    assert not (tmp_path / "out" / "runs").exists()


def test_a_wav_claiming_a_1_hz_sample_rate_is_refused(material, tmp_path, capsys):
    wav = tmp_path / "slow.wav"
    sf.write(wav, np.zeros(2000, np.float32), 1, subtype="PCM_16")   # 4 kB claiming 1 Hz
    assert main(["predict", str(material.clip), str(wav)]) == 1
    err = capsys.readouterr().err
    assert "sample rate 1 Hz" in err


# ------------------------------------------------------------- kills and temporaries


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(material, tmp_path):
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    dead = 2**22 + 12345   # above pid_max's default: no such process
    old = time.time() - 7200
    stale = [out / f".summary.csv.{dead}.abcd.tmp", out / "tables" / f".main.md.{dead}.x.tmp"]
    for p in stale:
        p.write_text("half a table")
        os.utime(p, (old, old))
    fresh = out / f".summary.csv.{dead}.new.tmp"   # too recent: maybe another machine's
    fresh.write_text("x")
    live = out / f".summary.csv.{os.getpid()}.live.tmp"
    live.write_text("x")
    os.utime(live, (old, old))
    assert main(["report", "--runs", str(material.small), "--out", str(out)]) == 0
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and live.exists()


def test_a_killed_twin_build_is_cleaned_by_the_next(tmp_path):
    from benchmark.twins import synth

    dead = 2**22 + 12346
    left = tmp_path / f".twin.{dead}.abcd.tmp"
    (left / "audio").mkdir(parents=True)
    (left / "audio" / "x.wav").write_bytes(b"x")
    old = time.time() - 7200
    os.utime(left, (old, old))
    synth("esc50", tmp_path / "twin", size="tiny")
    assert not left.exists() and (tmp_path / "twin").is_dir()


def test_two_synth_into_one_folder_end_in_one_line(tmp_path, monkeypatch, capsys):
    import importlib

    gen = importlib.import_module("benchmark.twins.esc50")
    real = gen.write
    out = tmp_path / "twin"

    def other_process_wins(tmp, size, seed, track):
        real(tmp, size, seed, track)
        out.mkdir(exist_ok=True)
        (out / "theirs.txt").write_text("theirs")

    monkeypatch.setattr(gen, "write", other_process_wins)
    assert main(["synth", "esc50", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "another process wrote" in err and err.count("\n") == 1
    assert (out / "theirs.txt").read_text() == "theirs"


_GRID_SCRIPT = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
import sleeper
from benchmark.grid import Cell, run_grid
if __name__ == "__main__":   # spawned workers import this file again
    import faulthandler, signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)   # the test's view of a hang
    cells = [Cell("esc50", "mel", s) for s in range(4)]
    print("started", flush=True)
    run_grid(cells, profile="ci", data="twin", out=Path({out!r}), jobs=2, runner=sleeper.run)
"""

_SLEEPER = """
import os, time
from pathlib import Path

def run(cell, profile, data, out, progress):
    Path(out, f"worker-{os.getpid()}").write_text("")
    time.sleep(60)
    return {"ok": True, "seconds": 60}
"""


def _token_processes(token: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if token.encode() in (d / "environ").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_a_worker_orphaned_while_starting_exits_before_taking_a_cell():
    """The death signal is set in the worker's initializer: a grid killed before that
    (spawn takes seconds) is already gone, and the worker must notice by itself."""
    code = ("from benchmark.grid import _die_with_parent; _die_with_parent(1); "
            "print('took a cell')")  # pid 1 is never our parent
    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", "")  # quietly, before any work


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_stopping_a_grid_stops_its_workers_at_once(tmp_path, sig):
    """Ctrl-C (SIGINT to the grid alone) or SIGTERM: the grid exits within seconds and its
    workers with it, instead of waiting for (or leaving behind) cells in training."""
    import signal

    (tmp_path / "sleeper.py").write_text(_SLEEPER)
    script = tmp_path / "grid.py"
    script.write_text(_GRID_SCRIPT.format(here=str(tmp_path), out=str(tmp_path)))
    token = f"GABORBENCH_TEST_GRID_{os.getpid()}_{sig}"
    env = {**os.environ, "PYTHONPATH": str(REPO), token: "1"}
    err = tmp_path / "grid.err"

    def as_from_a_terminal():
        # Ctrl-C reaches a program whose SIGINT is neither ignored nor blocked; a process
        # started from this one would otherwise inherit whatever an earlier test in this
        # worker left behind.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    p = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                         stderr=err.open("w"), text=True, preexec_fn=as_from_a_terminal)
    try:
        assert p.stdout.readline().strip() == "started"
        deadline = time.time() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert len(list(tmp_path.glob("worker-*"))) == 2   # both are in a 60 s cell
        p.send_signal(getattr(signal, sig))
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGUSR1)   # where every thread of the grid is waiting
            time.sleep(2)
            pytest.fail(f"the grid was still waiting for its cells 30 s after {sig}:\n"
                        + err.read_text(errors="replace")[-6000:])
        deadline = time.time() + 20
        while _token_processes(token) and time.time() < deadline:
            time.sleep(0.5)
        left = _token_processes(token)
    finally:
        for pid in _token_processes(token):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        p.kill()
    assert left == [], f"workers left running after {sig}: {left}"


# ------------------------------------------------------------- found on genuine recordings


def test_run_records_the_threads_in_force(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_NUM_INTRAOP_THREADS": "1",
           "KERAS_BACKEND": "tensorflow"}
    p = subprocess.run([sys.executable, "-c",
                        "from benchmark import backend; print(backend.device_description())"],
                       env=env, capture_output=True, text=True, timeout=120)
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("cpu") and "1 threads" in line, line


def test_a_validation_class_training_lacks_does_not_crash_the_clip_task():
    from benchmark.config import resolve_config
    from benchmark.data import Example
    from benchmark.tasks.clip import ClipClassification

    cfg = resolve_config("esc50", "mel", "ci", fold=1)
    n_mels = cfg.features.n_mels
    examples = []
    for fold, labels in ((1, ["a", "b"]), (2, ["a", "b", "only_in_validation"]),
                         (3, ["a", "b"]), (4, ["a", "b"]), (5, ["a", "b"])):
        for i, lab in enumerate(labels):
            examples.append(Example(id=f"{fold}-{i}", path=f"{fold}-{i}.wav", label=lab,
                                    group=f"{fold}-{i}", fold=fold))

    class Store:
        def __contains__(self, i):
            return True

        def get(self, i):
            return np.zeros((20, n_mels), np.float32)

        def n_frames(self, i):
            return 20

    prepared = argparse.Namespace(examples=examples, trials=[], name="esc50")
    task = ClipClassification(cfg, prepared, Store())
    assert -1 in task.y["val"] and task.n_outputs == 2

    class Model:
        def predict(self, x, verbose=0, batch_size=None):
            return np.full((len(x), 2), 0.5, np.float32)

        def __call__(self, x, training=False):
            return self.predict(x)

    import benchmark.tasks.clip as clip

    orig = clip.predict_batched
    clip.predict_batched = lambda model, x, bs: np.full((len(x), 2), 0.5, np.float32)
    try:
        v = task.validate(Model(), 1)
    finally:
        clip.predict_batched = orig
    assert np.isfinite(v["val_loss"]) and 0 <= v["val_main"] <= 1


def test_a_missing_noise_corpus_is_said_before_any_feature_is_computed(monkeypatch, tmp_path):
    from benchmark import train
    from benchmark.config import resolve_config
    from benchmark.errors import UserError
    from benchmark.prepare import prepare
    from benchmark.twins import ensure_twin

    cfg = resolve_config("ami", "mel", "ci", ["protocol.noise_prob=0.5"])
    real_load = train.load_data

    def load(name, data, twin, progress):
        if name == "musan":
            raise UserError("musan: real data not found")
        return prepare(name, ensure_twin(name, size="tiny"), progress=False), ensure_twin(name, size="tiny")

    def no_features(*a, **k):
        raise AssertionError("features were computed before the noise corpus was checked")

    monkeypatch.setattr(train, "load_data", load)
    monkeypatch.setattr("benchmark.features.extract_features", no_features)
    with pytest.raises(UserError, match="noise corpus"):
        train.train_and_score(cfg, tmp_path / "out", progress=False)
    assert real_load is not None


_MANIFEST = ('name = "toy"\nversion = "1"\ntitle = "t"\ntask = "urban_sound"\nhomepage = "h"\n'
             'licence = "l"\ncitation = "c"\nsample_rate = 16000\nsize = "1 MB"\nexpect = ["a"]\n')


@pytest.mark.parametrize("manifest, checksums", [
    (_MANIFEST + "sources = " + "[" * 3000 + "]" * 3000 + "\n", "files = []\n"),
    (_MANIFEST + '[[sources]]\nkind = "http"\n', "files = [1]\n"),
    (_MANIFEST + '[[sources]]\nkind = "http"\n', "files = " + "[" * 3000 + "]" * 3000 + "\n"),
], ids=["nested manifest", "files of ints", "nested checksums"])
def test_a_malformed_recipe_is_one_line(tmp_path, manifest, checksums):
    from benchmark.errors import UserError
    from benchmark.recipes import load_recipe

    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "manifest.toml").write_text(manifest)
    (tmp_path / "toy" / "checksums.toml").write_text(checksums)
    with pytest.raises(UserError) as e:
        load_recipe("toy", tmp_path)
    assert "\n" not in str(e.value) and "toy" in str(e.value)


def test_a_test_class_training_lacks_is_refused_before_any_feature_is_computed(monkeypatch,
                                                                              tmp_path):
    import dataclasses

    from benchmark import train
    from benchmark.config import resolve_config
    from benchmark.errors import UserError
    from benchmark.prepare import prepare
    from benchmark.twins import ensure_twin

    cfg = resolve_config("esc50", "mel", "ci", fold=1)
    root = ensure_twin("esc50", size="tiny")
    prepared = prepare("esc50", root, progress=False)
    gone = sorted({e.label for e in prepared.examples if e.fold == 1})[0]
    # that class now occurs in the test fold only
    prepared = dataclasses.replace(prepared, examples=[
        e for e in prepared.examples if e.fold == 1 or e.label != gone])

    def no_features(*a, **k):
        raise AssertionError("features were computed before the splits were checked")

    monkeypatch.setattr(train, "load_data", lambda *a, **k: (prepared, root))
    monkeypatch.setattr("benchmark.features.extract_features", no_features)
    with pytest.raises(UserError, match="not in training"):
        train.train_and_score(cfg, tmp_path / "out", progress=False)


def test_a_model_save_killed_midway_is_cleaned_by_the_next_save(tmp_path):
    import keras

    from benchmark.train import save_model

    dead = 2**22 + 12347
    left = tmp_path / f".seed0.{dead}.tmp.keras"
    left.write_bytes(b"half a model")
    old = time.time() - 7200
    os.utime(left, (old, old))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    digest = save_model(model, tmp_path / "seed0.keras")
    assert not left.exists() and (tmp_path / "seed0.keras").is_file() and len(digest) == 64


def test_a_fifo_at_a_run_file_does_not_hang_run_or_the_grid(tmp_path, monkeypatch):
    import threading

    from benchmark import train
    from benchmark.grid import Cell, _run_file, is_done

    cell = Cell("esc50", "mel", 0, 1)
    path = _run_file(tmp_path, cell)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    monkeypatch.setattr(train, "train_and_score", lambda cfg, out, progress: "trained")
    result = []

    def both():
        result.append(is_done(tmp_path, cell, "ci", "twin"))
        result.append(train.run_cell("esc50", "mel", 0, 1, profile="ci", out=tmp_path,
                                     progress=False))

    t = threading.Thread(target=both, daemon=True)
    t.start()
    t.join(60)
    hung = t.is_alive()
    if hung:  # release the reader so that the test process can end
        with open(path, "w"):
            pass
    assert not hung and result == [False, "trained"]
