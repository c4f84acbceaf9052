"""The downloader against a local HTTP server (127.0.0.1 only, never the internet):
verification, caching, retry, safe extraction, manual datasets, Kaggle credentials."""

from __future__ import annotations

import argparse
import hashlib
import io
import stat
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from benchmark import download as D
from benchmark import paths
from benchmark.errors import UserError



# ------------------------------------------------------------------ helpers

def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _write_recipe(root: Path, name: str, files: list[dict], *, expect, manual=False, extra="", members=""):
    folder = root / name
    folder.mkdir(parents=True)
    if manual:
        source = '[[sources]]\nkind = "manual"\nsteps = ["Ask the owners.", "Unpack it here."]\n'
    else:
        source = '[[sources]]\nkind = "http"\n'
    exp = ", ".join(f'"{e}"' for e in expect)
    (folder / "manifest.toml").write_text(
        f'name = "{name}"\nversion = "1"\ntask = "toy"\nhomepage = "https://example.org"\n'
        f'licence = "CC0"\ncitation = "nobody"\nsample_rate = 16000\nsize = "tiny"\n'
        f"expect = [{exp}]\n{extra}\n{source}")
    lines = []
    for f in files:
        lines.append("[[files]]")
        lines += [f"{k} = {v!r}" if not isinstance(v, bool) else f"{k} = {str(v).lower()}" for k, v in f.items()]
        lines.append("")
    (folder / "checksums.toml").write_text(("\n".join(lines) if lines else "files = []\n") + "\n" + members)
    return folder




def _files_under(p: Path) -> list[Path]:
    return sorted(x for x in p.rglob("*") if x.is_file()) if p.exists() else []


ARCHIVE = _tar_gz({"Toy/meta/list.csv": b"a,b\n1,2\n", "Toy/audio/x.wav": b"RIFF" + bytes(100)})


def _toy(env, body=ARCHIVE, **overrides):
    env.server.files["toy/toy.tar.gz"] = body
    entry = {"url": "https://example.invalid/toy.tar.gz", "filename": "toy.tar.gz",
             "sha256": hashlib.sha256(ARCHIVE).hexdigest(), "size": len(ARCHIVE), "extract": True}
    entry.update(overrides)
    entry = {k: v for k, v in entry.items() if v is not None}
    _write_recipe(env.recipes, "toy", [entry], expect=["Toy/meta/list.csv", "Toy/audio/x.wav"])


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def _get(env, name="toy", **kw):
    return D.download(name, recipes_root=env.recipes, mirror=env.server.url, **kw)


# ---------------------------------------------------------------- http

def test_good_file_is_fetched_once_and_reused(env):
    _toy(env)
    root = _get(env, retries=0)
    assert root == paths.data_dir("toy")
    assert (root / "Toy/meta/list.csv").read_bytes() == b"a,b\n1,2\n"
    assert D.is_complete("toy")
    assert env.server.requests["toy/toy.tar.gz"] == 1
    # a second call finds the completed folder and makes no request
    assert _get(env, retries=0) == root
    # with the extracted folder gone, the verified archive in the cache is reused
    import shutil
    shutil.rmtree(root)
    assert (_get(env, retries=0) / "Toy/audio/x.wav").is_file()
    assert env.server.requests["toy/toy.tar.gz"] == 1
    # nothing temporary is left beside the dataset folder
    assert sorted(p.name for p in (env.home / "data").iterdir()) == ["toy"]
    assert root.stat().st_mode & 0o055 == (0o777 & ~_umask()) & 0o055


def test_bad_checksum_is_rejected_and_nothing_cached(env):
    body = bytearray(ARCHIVE)
    body[len(body) // 2] ^= 0xFF  # same size, different bytes
    _toy(env, body=bytes(body))
    with pytest.raises(UserError, match="toy.tar.gz .*failed verification"):
        _get(env, retries=0)
    assert _files_under(env.home / "downloads") == []
    assert _files_under(env.home / "data") == []


def test_wrong_size_is_rejected_before_the_digest(env):
    _toy(env, size=len(ARCHIVE) + 1)
    with pytest.raises(UserError, match="expected .* bytes"):
        _get(env, retries=0)
    assert _files_under(env.home / "downloads") == []


HALF = len(ARCHIVE) // 2   # where the test server cuts a truncated transfer


@pytest.fixture
def small_chunks(monkeypatch):
    """16-byte reads: a cut connection loses the chunk it was in (at most 1 MB in real use),
    so the toy archive needs small ones for some of its bytes to be kept."""
    monkeypatch.setattr(D, "CHUNK_BYTES", 16)


def test_interrupted_transfer_is_retried_from_where_it_stopped(env, small_chunks):
    _toy(env)
    env.server.truncate_next["toy/toy.tar.gz"] = 1
    root = _get(env, retries=1)
    assert (root / "Toy/meta/list.csv").is_file()
    assert env.server.requests["toy/toy.tar.gz"] == 2
    # the retry asked for the missing bytes only
    [(path, asked)] = env.server.ranges
    kept = int(asked.removeprefix("bytes=").removesuffix("-"))
    assert 0 < kept <= HALF and asked == f"bytes={kept}-"
    assert env.server.sent["toy/toy.tar.gz"] == HALF + len(ARCHIVE) - kept


def test_interrupted_download_resumes_in_the_next_run(env, small_chunks):
    _toy(env)
    env.server.truncate_next["toy/toy.tar.gz"] = 1
    with pytest.raises(UserError, match=r"could not fetch.*kept in .*\.toy\.tar\.gz\.part"):
        _get(env, retries=0)
    # the bytes received stay in a hidden .part file, never under the final name
    part = env.home / "downloads/toy/.toy.tar.gz.part"
    assert _files_under(env.home / "downloads") == [part]
    kept = part.stat().st_size
    assert 0 < kept <= HALF and part.read_bytes() == ARCHIVE[:kept]
    root = _get(env, retries=0)
    assert (root / "Toy/audio/x.wav").read_bytes() == b"RIFF" + bytes(100)
    assert env.server.ranges == [("toy/toy.tar.gz", f"bytes={kept}-")]
    assert env.server.sent["toy/toy.tar.gz"] == HALF + len(ARCHIVE) - kept
    assert not part.exists()


def test_server_without_ranges_restarts_the_file_cleanly(env, small_chunks):
    _toy(env)
    env.server.truncate_next["toy/toy.tar.gz"] = 1
    env.server.no_ranges.add("toy/toy.tar.gz")
    with pytest.raises(UserError, match="could not fetch"):
        _get(env, retries=0)
    assert (env.home / "downloads/toy/.toy.tar.gz.part").stat().st_size > 0
    # asked for a range, got the whole file with 200: written from the start, not appended
    root = _get(env, retries=0)
    assert (root / "Toy/meta/list.csv").is_file()
    assert (env.home / "downloads/toy/toy.tar.gz").read_bytes() == ARCHIVE
    assert env.server.sent["toy/toy.tar.gz"] == HALF + len(ARCHIVE)


def test_resumed_file_that_fails_its_digest_is_fetched_whole(env):
    _toy(env)
    part = env.home / "downloads/toy/.toy.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * HALF)   # bytes of another version of the file
    root = _get(env, retries=1)
    assert (root / "Toy/meta/list.csv").is_file()
    assert env.server.requests["toy/toy.tar.gz"] == 2   # the resume, refused; then all of it
    assert (env.home / "downloads/toy/toy.tar.gz").read_bytes() == ARCHIVE


def test_part_as_long_as_the_file_is_not_resumed_past_its_end(env):
    _toy(env)
    part = env.home / "downloads/toy/.toy.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (len(ARCHIVE) + 5))
    assert (_get(env, retries=0) / "Toy/meta/list.csv").is_file()
    assert env.server.ranges == []


def test_unpublished_digest_is_recorded_on_first_fetch_and_enforced(env):
    _toy(env, sha256=None, size=None)
    root = _get(env, retries=0)
    record = D.read_json(env.home / "downloads/toy" / D.VERIFIED_RECORD)
    assert record["toy.tar.gz"]["sha256"] == hashlib.sha256(ARCHIVE).hexdigest()
    # the cached copy is damaged and the server now serves other bytes: refused
    import shutil
    shutil.rmtree(root)
    (env.home / "downloads/toy/toy.tar.gz").write_bytes(b"damaged")
    env.server.files["toy/toy.tar.gz"] = _tar_gz({"Toy/meta/list.csv": b"other", "Toy/audio/x.wav": b""})
    with pytest.raises(UserError, match="failed verification"):
        _get(env, retries=0)
    assert not (env.home / "data/toy").exists()
    assert not (env.home / "downloads/toy/toy.tar.gz").exists()


def test_missing_expected_path_after_extraction_is_an_error(env):
    body = _tar_gz({"Other/readme.txt": b"hi"})
    _toy(env, body=body, sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    with pytest.raises(UserError, match="expected paths are missing: Toy/meta/list.csv"):
        _get(env, retries=0)
    assert list((env.home / "data").iterdir()) == []


# ------------------------------------------------------------ extraction

def _hostile_tars():
    def tar_with(info, data=b"x"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            tf.addfile(tarfile.TarInfo("ok.txt"), io.BytesIO(b""))
            if info.type in (tarfile.REGTYPE,):
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
        return buf.getvalue()

    absolute = tarfile.TarInfo("/tmp/gaborbench-evil.txt")
    dotdot = tarfile.TarInfo("sub/../../evil.txt")
    sym = tarfile.TarInfo("link")
    sym.type, sym.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../outside"
    return [(tar_with(absolute), "/tmp/gaborbench-evil.txt", "absolute"),
            (tar_with(dotdot), "sub/../../evil.txt", "'..'"),
            (tar_with(sym), "link", "symbolic link"),
            (tar_with(hard), "hard", "hard link")]


@pytest.mark.parametrize("case", range(4))
def test_hostile_tar_members_are_refused(tmp_path, case):
    body, member, why = _hostile_tars()[case]
    archive = tmp_path / "evil.tar"
    archive.write_bytes(body)
    dest = tmp_path / "out"
    with pytest.raises(UserError, match=f"member '{member}' is unsafe \\({why}"):
        D.safe_extract(archive, dest)
    assert _files_under(dest) == []  # refused before anything was written
    assert not (tmp_path / "evil.txt").exists()


def _zip_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("audio/link.wav")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize("body,member,why", [
    (_zip({"ok.txt": b"", "/abs.txt": b"x"}), "/abs.txt", "absolute"),
    (_zip({"ok.txt": b"", "a/../../evil.txt": b"x"}), "a/../../evil.txt", "'..'"),
    (_zip_symlink(), "audio/link.wav", "symbolic link"),
])
def test_hostile_zip_members_are_refused(tmp_path, body, member, why):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(body)
    with pytest.raises(UserError, match=f"member '{member}' is unsafe \\({why}"):
        D.safe_extract(archive, tmp_path / "out")
    assert _files_under(tmp_path / "out") == []


def test_hostile_archive_through_download_leaves_nothing(env):
    body = _hostile_tars()[1][0]
    _toy(env, body=body, sha256=hashlib.sha256(body).hexdigest(), size=len(body))
    with pytest.raises(UserError, match="unsafe"):
        _get(env, retries=0)
    assert list((env.home / "data").iterdir()) == []


def _nested_recipe(env, member_md5):
    adult = _zip({"Bird1_110101-DC-01.wav": b"RIFF1"})
    chick = _zip({"Chick/Bird2_120202-Be-02.wav": b"RIFF2"})
    outer = _zip({"AdultVocalizations.zip": adult, "ChickVocalizations.zip": chick})
    env.server.files["finch/finch.zip"] = outer
    members = (f'[[members]]\nname = "AdultVocalizations.zip"\nsize = {len(adult)}\n'
               f'md5 = "{member_md5(adult)}"\n')
    _write_recipe(env.recipes, "finch", [{"url": "https://example.invalid/a", "filename": "finch.zip",
                                           "extract": True}],
                  expect=["AdultVocalizations", "ChickVocalizations"], extra="nested_zips = true",
                  members=members)


def test_nested_zips_are_extracted_and_members_checked(env):
    _nested_recipe(env, lambda b: hashlib.md5(b).hexdigest())
    root = D.download("finch", recipes_root=env.recipes, mirror=env.server.url, retries=0)
    wavs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))
    assert wavs == ["AdultVocalizations/Bird1_110101-DC-01.wav",
                    "ChickVocalizations/Chick/Bird2_120202-Be-02.wav"]
    assert list(root.rglob("*.zip")) == []


def test_nested_member_with_wrong_digest_is_refused(env):
    _nested_recipe(env, lambda b: "0" * 32)
    with pytest.raises(UserError, match="md5 of AdultVocalizations.zip does not match"):
        D.download("finch", recipes_root=env.recipes, mirror=env.server.url, retries=0)
    assert not (env.home / "data/finch").exists()


# ---------------------------------------------------------------- manual

def test_missing_manual_dataset_names_the_exact_path(env, capsys):
    _write_recipe(env.recipes, "secret", [], expect=["wav", "list.txt"], manual=True)
    target = env.home / "data" / "secret"
    with pytest.raises(UserError) as e:
        D.download("secret", recipes_root=env.recipes)
    assert str(target) in str(e.value) and "Ask the owners." in str(e.value)
    assert "missing: wav, list.txt" in str(e.value)
    # --skip-manual: the same text, printed, and no error
    assert D.download("secret", recipes_root=env.recipes, skip_manual=True) == target
    assert str(target) in capsys.readouterr().out
    # once placed by hand it is found
    (target / "wav").mkdir(parents=True)
    (target / "list.txt").write_text("1 a.wav\n")
    assert D.download("secret", recipes_root=env.recipes) == target


def test_download_all_summarises(env, monkeypatch, capsys):
    _toy(env)
    _write_recipe(env.recipes, "secret", [], expect=["wav"], manual=True)
    monkeypatch.setattr(paths, "DATASETS_DIR", env.recipes)
    monkeypatch.setenv("GABORBENCH_MIRROR", env.server.url)
    monkeypatch.setenv("GABORBENCH_DOWNLOAD_RETRIES", "0")
    args = argparse.Namespace(name="all", via=None, skip_manual=True)
    assert D.cli_download(args) == 0
    out = capsys.readouterr().out
    assert "secret" in out and "missing (manual)" in out
    assert any(line.startswith("toy") and "fetched" in line for line in out.splitlines())
    assert D.cli_download(args) == 0
    assert any(line.startswith("toy") and "present" in line for line in capsys.readouterr().out.splitlines())
    # without --skip-manual the absent manual dataset makes the exit status non-zero
    assert D.cli_download(argparse.Namespace(name="all", via=None, skip_manual=False)) == 1


# ---------------------------------------------------------------- kaggle

def test_kaggle_missing_credentials_message(tmp_path):
    with pytest.raises(UserError) as e:
        D.require_kaggle_credentials(environ={}, home=tmp_path)
    msg = str(e.value)
    for word in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "~/.kaggle/", "kaggle.json"):
        assert word in msg
    assert "\n" not in msg
    assert D.kaggle_credentials({"KAGGLE_API_TOKEN": "t"}, tmp_path) == "KAGGLE_API_TOKEN"
    assert D.kaggle_credentials({"KAGGLE_USERNAME": "u"}, tmp_path) is None
    assert D.kaggle_credentials({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}, tmp_path)
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text("{}")
    assert D.kaggle_credentials({}, tmp_path).endswith("kaggle.json")


def test_kaggle_source_stops_before_importing_kagglehub(env, monkeypatch):
    folder = env.recipes / "mirror"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "mirror"\nversion = "1"\ntask = "toy"\nhomepage = "h"\nlicence = "l"\ncitation = "c"\n'
        'sample_rate = 1\nsize = "s"\nexpect = ["a"]\n[[sources]]\nkind = "kaggle"\nhandle = "o/d"\n')
    (folder / "checksums.toml").write_text("files = []\n")
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(env.home))
    monkeypatch.setitem(sys.modules, "kagglehub", None)  # importing it would raise ImportError
    with pytest.raises(UserError, match="KAGGLE_USERNAME and KAGGLE_KEY"):
        D.download("mirror", recipes_root=env.recipes, via="kaggle")


def test_placement_rules_rebuild_the_canonical_layout(tmp_path):
    from benchmark.recipes import load_recipe

    tree = tmp_path / "kaggle"
    (tree / "fold1").mkdir(parents=True)
    (tree / "fold2").mkdir()
    (tree / "fold1" / "1-a.wav").write_bytes(b"1")
    (tree / "fold2" / "2-b.wav").write_bytes(b"2")
    (tree / "UrbanSound8K.csv").write_text("slice_file_name,fold\n")
    src = load_recipe("urbansound8k").source("kaggle")
    out = tmp_path / "out"
    D._place(src, tree, out)
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["UrbanSound8K/audio/fold1/1-a.wav", "UrbanSound8K/audio/fold2/2-b.wav",
                   "UrbanSound8K/metadata/UrbanSound8K.csv"]


# ------------------------------------------------------------- clean-data

def test_clean_data_needs_confirmation_and_spares_twins(env, monkeypatch):
    for sub in ("data/x", "twins/t", "features/f"):
        (env.home / sub).mkdir(parents=True)
        (env.home / sub / "f.bin").write_bytes(b"1")
    (env.home / "data/x" / D.COMPLETE_MARKER).write_text("{}")   # extracted by the downloader
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    with pytest.raises(UserError, match="--yes"):
        D.cli_clean_data(argparse.Namespace(yes=False))
    assert (env.home / "data/x/f.bin").exists()
    assert D.cli_clean_data(argparse.Namespace(yes=True)) == 0
    assert not (env.home / "data/x").exists()
    assert (env.home / "twins/t/f.bin").exists() and (env.home / "features/f/f.bin").exists()


def test_another_range_than_the_one_asked_for_restarts_the_file(env, small_chunks, monkeypatch):
    _toy(env)
    part = env.home / "downloads/toy/.toy.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(ARCHIVE[:40])
    # a server (or a proxy) that answers every range request with the bytes from 10 on
    real_get = D.requests.get

    def shifted(url, **kw):
        if "Range" in kw.get("headers", {}):
            kw["headers"] = {**kw["headers"], "Range": "bytes=10-"}
        return real_get(url, **kw)

    monkeypatch.setattr(D.requests, "get", shifted)
    with pytest.raises(UserError, match="another range"):
        _get(env, retries=0)
    assert not part.exists()  # nothing of it is trusted
    assert (_get(env, retries=0) / "Toy/meta/list.csv").is_file()
