"""Hostile inputs to the downloader: truncated transfers, partial or damaged
files in the cache, corrupt and oversized archives, an unwritable cache, a full
disk, two downloads at once and a killed download. Each must end in one clear
UserError (or succeed) and leave nothing that a later run would wrongly trust."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from benchmark import download as D
from benchmark.errors import UserError

from test_download import ARCHIVE, _files_under, _get, _tar_gz, _toy, _write_recipe, _zip  # noqa: E402

REPO = Path(__file__).resolve().parent.parent




def _record(env, name="toy"):
    p = env.home / "downloads" / name / D.VERIFIED_RECORD
    return D.read_json(p) if p.exists() else {}


def _leftovers(env) -> list[str]:
    """Temporary files of any downloader generation under the downloads folder."""
    return [p.name for p in _files_under(env.home / "downloads")
            if ".part-" in p.name or p.name.endswith(".part") or p.name.startswith("tmp")]


# ------------------------------------------------- nothing bad gets pinned

def test_truncated_transfer_without_length_or_digest_is_refused(env):
    _toy(env, sha256=None, size=None)
    env.server.no_length.add("toy/toy.tar.gz")
    env.server.truncate_next["toy/toy.tar.gz"] = 1
    with pytest.raises(UserError, match="no Content-Length.*size = <bytes>") as e:
        _get(env, retries=0)
    assert "\n" not in str(e.value)
    assert _record(env) == {} and _files_under(env.home / "downloads/toy") == []
    assert not (env.home / "data/toy").exists()
    # with a size in the recipe the short body is caught, and a full one accepted
    import shutil
    shutil.rmtree(env.recipes / "toy")
    _toy(env, sha256=None, size=len(ARCHIVE))
    env.server.truncate_next["toy/toy.tar.gz"] = 1
    with pytest.raises(UserError, match="expected .* bytes"):
        _get(env, retries=0)
    assert _record(env) == {}
    assert (_get(env, retries=0) / "Toy/audio/x.wav").is_file()
    assert _record(env)["toy.tar.gz"]["sha256"] == hashlib.sha256(ARCHIVE).hexdigest()


@pytest.mark.parametrize("stale_record", [False, True])
def test_partial_file_in_the_cache_is_not_trusted(env, stale_record):
    # a partial copy under the final name, unrecorded or pinned by an older version
    # before any content check: both are fetched again, not pinned or reused
    _toy(env, sha256=None, size=None)
    dl = env.home / "downloads/toy"
    dl.mkdir(parents=True)
    (dl / "toy.tar.gz").write_bytes(ARCHIVE[: len(ARCHIVE) // 2])
    if stale_record:
        D.write_json(dl / D.VERIFIED_RECORD, {"toy.tar.gz": {
            "sha256": hashlib.sha256(ARCHIVE[: len(ARCHIVE) // 2]).hexdigest(),
            "size": len(ARCHIVE) // 2, "url": "x"}})
    root = _get(env, retries=0)
    assert (root / "Toy/meta/list.csv").read_bytes() == b"a,b\n1,2\n"
    assert env.server.requests["toy/toy.tar.gz"] == 1
    assert _record(env)["toy.tar.gz"]["sha256"] == hashlib.sha256(ARCHIVE).hexdigest()


def _bad_crc_zip() -> bytes:
    body = bytearray(_zip({"Toy/meta/list.csv": b"a,b\n1,2\n", "Toy/audio/x.wav": b"RIFF" + bytes(100)}))
    i = body.index(b"RIFF")
    body[i + 10] ^= 0xFF  # stored (uncompressed) member data: only the CRC notices
    return bytes(body)


def test_zip_with_bad_crc_is_discarded_with_its_record(env):
    body = _bad_crc_zip()
    env.server.files["toy/toy.zip"] = body
    _write_recipe(env.recipes, "toy", [{"url": "https://example.invalid/t.zip", "filename": "toy.zip",
                                        "extract": True}], expect=["Toy/meta/list.csv"])
    with pytest.raises(UserError, match="toy.zip is truncated or corrupt: Bad CRC-32") as e:
        _get(env, retries=0)
    assert "\n" not in str(e.value)
    assert _files_under(env.home / "downloads/toy") == [] and _record(env) == {}
    # the publisher fixes the file: the next run fetches it again and succeeds
    env.server.files["toy/toy.zip"] = _zip({"Toy/meta/list.csv": b"ok"})
    assert (_get(env, retries=0) / "Toy/meta/list.csv").read_bytes() == b"ok"
    assert env.server.requests["toy/toy.zip"] == 2


def test_archive_failing_a_member_digest_is_discarded_and_refetched(env):
    good_inner = _zip({"a.wav": b"RIFF-good"})
    env.server.files["finch/finch.zip"] = _zip({"Adult.zip": _zip({"a.wav": b"RIFF-bad!"})})
    _write_recipe(env.recipes, "finch", [{"url": "https://example.invalid/f", "filename": "finch.zip",
                                          "extract": True}], expect=["Adult"], extra="nested_zips = true",
                  members=f'[[members]]\nname = "Adult.zip"\nmd5 = "{hashlib.md5(good_inner).hexdigest()}"\n')
    with pytest.raises(UserError, match="md5 of Adult.zip does not match"):
        _get(env, "finch", retries=0)
    assert _files_under(env.home / "downloads/finch") == [] and _record(env, "finch") == {}
    env.server.files["finch/finch.zip"] = _zip({"Adult.zip": good_inner})
    assert (_get(env, "finch", retries=0) / "Adult/a.wav").read_bytes() == b"RIFF-good"


# ------------------------------------------------------ damaged archives

def _truncated(kind: str) -> bytes:
    payload = os.urandom(50_000)  # incompressible: the cut lands inside member data
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{kind}" if kind else "w") as tf:
        info = tarfile.TarInfo("Toy/audio/x.wav")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    body = buf.getvalue()
    return body[: len(body) * 2 // 3]


@pytest.mark.parametrize("kind,suffix", [("", "tar"), ("gz", "tar.gz"), ("bz2", "tar.bz2"), ("xz", "tar.xz")])
def test_truncated_tar_is_one_clear_error(tmp_path, kind, suffix):
    archive = tmp_path / f"cut.{suffix}"
    archive.write_bytes(_truncated(kind))
    with pytest.raises(UserError, match=f"cut.{suffix} is (truncated or corrupt|not a complete)") as e:
        D.safe_extract(archive, tmp_path / "out")
    assert "\n" not in str(e.value)


def test_truncated_zip_is_one_clear_error(tmp_path):
    body = _zip({"a.wav": os.urandom(20_000)})
    archive = tmp_path / "cut.zip"
    archive.write_bytes(body[: len(body) // 2])
    with pytest.raises(UserError, match="cut.zip is not a complete zip or tar archive"):
        D.safe_extract(archive, tmp_path / "out")


def _zeros_zip(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small.txt", b"hello")
        zf.writestr("bomb/zeros.bin", bytes(n))
    return buf.getvalue()


def test_zip_bomb_is_refused_naming_the_member(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "RATIO_FLOOR_BYTES", 1 << 20, raising=False)
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(_zeros_zip(4 << 20))  # ~4 KB expanding to 4 MiB: ratio ~1000
    with pytest.raises(UserError, match=r"bomb.zip: at member 'bomb/zeros.bin' it expands \d+ times"):
        D.safe_extract(archive, tmp_path / "out")
    assert _files_under(tmp_path / "out") == []


def test_tar_gz_bomb_and_total_size_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "RATIO_FLOOR_BYTES", 1 << 20, raising=False)
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(_tar_gz({"a.txt": b"x", "zeros.bin": bytes(4 << 20)}))
    with pytest.raises(UserError, match="member 'zeros.bin' it expands"):
        D.safe_extract(archive, tmp_path / "out")
    # the absolute cap applies whatever the ratio
    monkeypatch.setattr(D, "MAX_EXTRACTED_BYTES", 1000, raising=False)
    plain = tmp_path / "big.tar"
    plain.write_bytes(_tar_gz({"a.bin": os.urandom(600), "b.bin": os.urandom(600)}))
    with pytest.raises(UserError, match="at member 'b.bin' it expands to more than 1000 bytes"):
        D.safe_extract(plain, tmp_path / "out2")
    assert _files_under(tmp_path / "out") == [] and _files_under(tmp_path / "out2") == []


# --------------------------------------------------- the machine says no

def test_unwritable_cache_is_one_line(env, monkeypatch):
    _toy(env)
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if str(self).startswith(str(env.home)):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(UserError, match="cannot write to .*Permission denied.*GABORBENCH_HOME") as e:
        _get(env, retries=0)
    assert "\n" not in str(e.value)


def test_disk_full_during_extraction_keeps_the_verified_archive(env, monkeypatch):
    _toy(env)

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", full)
    with pytest.raises(UserError, match="no space left .*free some space or set GABORBENCH_HOME"):
        _get(env, retries=0)
    assert not (env.home / "data/toy").exists()
    assert list((env.home / "data").iterdir()) == []  # no half-built folder either
    monkeypatch.undo()
    monkeypatch.setenv("GABORBENCH_HOME", str(env.home))
    # a full disk is not the archive's fault: it is kept, and reused without a request
    assert (_get(env, retries=0) / "Toy/audio/x.wav").is_file()
    assert env.server.requests["toy/toy.tar.gz"] == 1


def test_disk_full_during_transfer_leaves_no_temporary_file(env, monkeypatch):
    _toy(env)
    real_open = open

    class Full(io.RawIOBase):
        def __init__(self, path):
            self.f = real_open(path, "wb")

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.f.close()

    def fake_open(path, mode="r", *a, **k):
        if str(path).endswith(D.PART_SUFFIX) and "w" in mode:
            return Full(path)
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(UserError, match="no space left"):
        _get(env, retries=0)
    monkeypatch.undo()
    assert _leftovers(env) == [] and _files_under(env.home / "downloads/toy") == []


# ------------------------------------------------ processes that collide

def _slow_toy(env, seconds_per_chunk=0.03):
    payload = os.urandom(96 * 1024)
    body = _tar_gz({"Toy/meta/list.csv": b"a,b\n1,2\n", "Toy/audio/x.wav": payload})
    env.server.files["toy/toy.tar.gz"] = body
    env.server.slow["toy/toy.tar.gz"] = seconds_per_chunk
    _write_recipe(env.recipes, "toy", [{"url": "https://example.invalid/t", "filename": "toy.tar.gz",
                                        "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
                                        "extract": True}], expect=["Toy/audio/x.wav"])
    return body


def _spawn(env) -> subprocess.Popen:
    code = ("import sys\nfrom benchmark import download as D\nfrom pathlib import Path\n"
            f"D.download('toy', recipes_root=Path({str(env.recipes)!r}), mirror={env.server.url!r}, retries=0)\n")
    environ = dict(os.environ, GABORBENCH_HOME=str(env.home), PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", code], env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_downloads_of_one_dataset_at_once_both_succeed(env):
    _slow_toy(env)
    procs = [_spawn(env) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert env.server.requests["toy/toy.tar.gz"] == 1  # the second waited, then found it in place
    assert D.is_complete("toy")
    assert sorted(p.name for p in (env.home / "data").iterdir()) == ["toy"]


def test_killed_download_leaves_nothing_the_next_run_keeps(env):
    _slow_toy(env, seconds_per_chunk=0.2)
    proc = _spawn(env)
    dl = env.home / "downloads" / "toy"
    deadline = time.monotonic() + 30
    while not _leftovers(env):  # wait until the transfer is under way
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert _leftovers(env)  # kill -9 runs no clean-up: the next download must do it
    env.server.slow.clear()
    assert (_get(env, retries=0) / "Toy/audio/x.wav").is_file()
    assert _leftovers(env) == [] and sorted(p.name for p in dl.iterdir()) == ["toy.tar.gz"]


def test_plain_files_fetched_before_a_failure_are_kept(env):
    # AMI-style: many plain files, no digests; one fails half-way through the list
    files = {"lists/a.txt": b"IS1000a\n", "lists/b.txt": b"IS1000b\n"}
    env.server.files["plain/lists/a.txt"] = files["lists/a.txt"]
    _write_recipe(env.recipes, "plain", [{"url": f"https://example.invalid/{n}", "filename": n}
                                         for n in files], expect=list(files))
    with pytest.raises(UserError, match="could not fetch .*b.txt"):
        _get(env, "plain", retries=0)
    assert set(_record(env, "plain")) == {"lists/a.txt"}
    env.server.files["plain/lists/b.txt"] = files["lists/b.txt"]
    root = _get(env, "plain", retries=0)
    assert (root / "lists/b.txt").read_bytes() == b"IS1000b\n"
    assert env.server.requests["plain/lists/a.txt"] == 1  # not fetched again
