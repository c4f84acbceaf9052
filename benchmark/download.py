"""Fetch, verify and extract the real datasets described by the recipes.

Layout under ``$GABORBENCH_HOME``:

- ``downloads/<name>/<filename>``: every file exactly as fetched and verified;
  ``downloads/<name>/.verified.json`` pins the sha256 of files whose publisher
  gives no digest. A digest is pinned only once the content proved usable (the
  archive extracted, its members matched their published digests, the expected
  paths were there); until then a file under its final name is not trusted and
  is fetched again. A file with no published digest must have a recorded size
  or come with a Content-Length, or a truncated transfer could pass for a
  complete one.
- ``data/<name>/``: the extracted dataset in the layout the adapters read. It is
  assembled in a temporary sibling folder and renamed into place in one step,
  with a completion marker inside, so a re-run skips it and an interrupted run
  never leaves a half-built folder under the final name.

Transfers stream to ``.<filename>.part`` beside the target, are checked
(length, size, digest) and only then renamed, so a corrupt or truncated file
never enters the cache. A transfer cut short (a dropped connection, a killed
run) leaves its ``.part`` file, and the next attempt, in this run or a later
one, asks only for the bytes after it (an HTTP range request): the large
archives (AMI, MUSAN, VoxCeleb, CHiME-5: tens of GB) need not start again. A
server that answers with the whole file (200 instead of 206 with the matching
``Content-Range``) restarts it cleanly, and a resumed file that fails its digest
is deleted and fetched whole. ``GABORBENCH_DOWNLOAD_RETRIES`` sets how many
times a failed transfer is retried. One dataset is downloaded by one process at a time (a lock
file per dataset); a second waits and then finds the dataset in place.
``GABORBENCH_MIRROR`` (or ``mirror=``) replaces every recipe URL with
``<mirror>/<name>/<filename>``, for local mirrors and for the tests.

Extraction refuses unsafe members (absolute paths, '..', links, special files)
and archives that expand beyond ``MAX_EXTRACTED_BYTES`` or ``MAX_RATIO`` times
their size; a damaged archive is deleted with its pinned digest, so the next
run fetches it again instead of failing on the same bytes for ever.
"""

from __future__ import annotations

import argparse
import errno
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import sys
import tarfile
import time
import uuid
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath

import requests
from tqdm import tqdm

from benchmark import paths
from benchmark.errors import UserError
from benchmark.io import file_lock, read_json, write_json
from benchmark.recipes import FileEntry, Recipe, Source, load_recipe, recipe_names

MIRROR_ENV = "GABORBENCH_MIRROR"
RETRIES_ENV = "GABORBENCH_DOWNLOAD_RETRIES"
DEFAULT_RETRIES = 3
COMPLETE_MARKER = ".gaborbench-complete.json"
VERIFIED_RECORD = ".verified.json"
HTTP_TIMEOUT_S = 60
RETRY_WAIT_S = 1.0            # grows linearly with the attempt, at most 10 s
CHUNK_BYTES = 1 << 20
PART_INFIX = ".part-"         # older versions' transfer files: .<filename>.part-<pid>
PART_SUFFIX = ".part"         # a resumable transfer: .<filename>.part (one per file: the
                              # dataset's lock keeps a second process from writing it)
_POOCH_TMP = re.compile(r"^tmp[a-z0-9_]{8}$")

# Extraction caps. The largest archive a recipe fetches (UrbanSound8K) holds about
# 7 GB of audio at a ratio near 1; audio barely compresses, so 100 times the
# archive's size only trips on a decompression bomb. Below RATIO_FLOOR_BYTES the
# ratio is not checked (small text archives compress well and cannot hurt).
MAX_EXTRACTED_BYTES = 200 * 2**30
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 64 * 2**20

KAGGLE_MISSING = (
    "Kaggle credentials not found: set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and KAGGLE_KEY, "
    "or put kaggle.json in ~/.kaggle/ (API token from https://www.kaggle.com/settings), "
    "or use --via http"
)


# ---------------------------------------------------------------- public API

def download(name: str, *, via: str | None = None, skip_manual: bool = False,
             recipes_root: Path | None = None, mirror: str | None = None,
             retries: int | None = None) -> Path:
    """Make dataset ``name`` available and return its root, ``$GABORBENCH_HOME/data/<name>``.

    ``via`` picks the source kind ("http" or "kaggle"; default: the recipe's first).
    A manual dataset that is absent raises UserError with the folder and the steps;
    with ``skip_manual`` the same text is printed and the (absent) folder returned.
    """
    path, _ = _obtain(load_recipe(name, recipes_root), via=via, skip_manual=skip_manual,
                      mirror=mirror, retries=retries)
    return path


def is_complete(name: str) -> bool:
    """True when ``data/<name>`` was built by this module and finished."""
    return (paths.data_dir(name) / COMPLETE_MARKER).is_file()


def kaggle_credentials(environ: dict | None = None, home: Path | None = None) -> str | None:
    """Where Kaggle credentials would come from, or None when there are none.

    Checks what kagglehub reads, without importing it or touching the network.
    """
    env = os.environ if environ is None else environ
    if env.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    home = Path(home) if home is not None else Path.home()
    config_dir = Path(env["KAGGLE_CONFIG_DIR"]) if env.get("KAGGLE_CONFIG_DIR") else home / ".kaggle"
    for fname in ("kaggle.json", "access_token"):
        if (config_dir / fname).is_file():
            return str(config_dir / fname)
    return None


def require_kaggle_credentials(environ: dict | None = None, home: Path | None = None) -> str:
    found = kaggle_credentials(environ, home)
    if found is None:
        raise UserError(KAGGLE_MISSING)
    return found


def manual_instructions(recipe: Recipe) -> str:
    target = paths.data_dir(recipe.name)
    src = recipe.source("manual")
    steps = " ".join(f"({i}) {s}" for i, s in enumerate(src.steps, 1))
    missing = [e for e in recipe.expect if not (target / e).exists()]
    return (f"{recipe.name} must be downloaded by hand into {target} "
            f"(missing: {', '.join(missing)}). Steps: {steps}")


# ------------------------------------------------------------- orchestration

def _obtain(recipe: Recipe, *, via, skip_manual, mirror, retries) -> tuple[Path, str]:
    """Return (dataset root, status) with status in fetched/present/missing."""
    target = paths.data_dir(recipe.name)
    if (target / COMPLETE_MARKER).is_file():
        return target, "present"
    src = recipe.source(via)
    if src.kind == "manual":
        if target.exists() and all((target / e).exists() for e in recipe.expect):
            return target, "present"      # placed by hand: accepted, not verified
        if skip_manual:
            print(f"skipping: {manual_instructions(recipe)}")
            return target, "missing"
        raise UserError(manual_instructions(recipe))
    try:
        with _dataset_lock(recipe.name):
            # checked again holding the lock: another process may have finished it
            if (target / COMPLETE_MARKER).is_file():
                return target, "present"
            if target.exists():
                if all((target / e).exists() for e in recipe.expect):
                    return target, "present"      # placed by hand: accepted, not verified
                raise UserError(f"{target} exists but is incomplete and was not built by gaborbench; "
                                f"move it away or run `gaborbench clean-data`, then download again")
            _remove_stale(recipe)
            if src.kind == "kaggle":
                tree = _fetch_kaggle(recipe, src)
                _assemble(recipe, target, src, lambda tmp: _place(src, tree, tmp))
            else:
                fetched = _fetch_http(recipe, mirror=mirror, retries=retries)
                try:
                    _assemble(recipe, target, src, lambda tmp: _unpack(recipe, fetched, tmp))
                except ArchiveError as e:
                    _discard(recipe, fetched, e.archive)
                    raise
                # only now, with the content extracted and checked, is a digest pinned
                _record(recipe, [f for f in fetched if f.record is not None])
    except OSError as e:
        raise UserError(_os_error_text(recipe, e)) from None
    return target, "fetched"


def _os_error_text(recipe: Recipe, e: OSError) -> str:
    where = e.filename or paths.home()
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{recipe.name}: no space left while writing {where} (the dataset needs {recipe.size}); "
                f"free some space or set GABORBENCH_HOME to a larger disk, then run again")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"{recipe.name}: cannot write to {where} ({e.strerror}); make it writable or set "
                f"GABORBENCH_HOME to a folder you can write to")
    return f"{recipe.name}: file system error on {where}: {e.strerror or _one_line(e)}"


@contextmanager
def _dataset_lock(name: str):
    """Serialise downloads of one dataset across processes (the lock dies with its holder)."""
    # file_lock neither truncates nor follows a link planted at the lock path
    with file_lock(paths.home() / "locks" / f"download-{name}.lock",
                   waiting=f"{name}: another gaborbench process is downloading it; "
                           f"waiting for it to finish"):
        yield


def _remove_stale(recipe: Recipe) -> None:
    """Delete what killed runs left behind. Holding the dataset's lock, no live
    process of ours is writing these, so every one of them is stale."""
    data_parent = paths.data_dir(recipe.name).parent
    for p in data_parent.glob(f".{recipe.name}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)
    dl_dir = paths.downloads_dir() / recipe.name
    folders = {dl_dir} | {(dl_dir / e.filename).parent for e in recipe.files}
    for folder in sorted(folders):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            # .<name>.part-<pid> files are this module's; tmpXXXXXXXX files were left
            # by older versions, which let pooch name their temporary files
            if p.is_file() and (PART_INFIX in p.name or _POOCH_TMP.match(p.name)):
                p.unlink(missing_ok=True)


def _assemble(recipe: Recipe, target: Path, src: Source, fill) -> None:
    """Build the dataset folder beside ``target`` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{recipe.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()  # not mkdtemp: its 0700 mode would stick to the renamed folder
        fill(tmp)
        missing = [e for e in recipe.expect if not (tmp / e).exists()]
        if missing:
            msg = (f"{recipe.name}: after {src.kind} download the expected paths are missing: "
                   f"{', '.join(missing)} (the source's layout may have changed)")
            raise ArchiveError(msg) if src.kind == "http" else UserError(msg)
        write_json(tmp / COMPLETE_MARKER, {
            "dataset": recipe.name, "version": recipe.version, "source": src.kind,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------- http

class ArchiveError(UserError):
    """Fetched content that cannot be used (corrupt, truncated, unsafe, too large,
    or failing a published member digest). ``archive`` is the file at fault, when known."""

    def __init__(self, message: str, archive: Path | None = None):
        super().__init__(message)
        self.archive = archive


class _Mismatch(ValueError):
    """A complete transfer whose size or digest is wrong: retried, then reported."""


class _Transfer(Exception):
    """A transfer that ended early: retried, then reported."""


@dataclass
class _Fetched:
    entry: FileEntry
    path: Path
    record: dict | None  # digest to pin once the content has been checked (no published one)


def _retries(retries: int | None) -> int:
    if retries is not None:
        return retries
    raw = os.environ.get(RETRIES_ENV, str(DEFAULT_RETRIES))
    try:
        return max(0, int(raw))
    except ValueError:
        raise UserError(f"{RETRIES_ENV} must be an integer, got {raw!r}") from None


def _url(recipe: Recipe, entry: FileEntry, mirror: str | None) -> str:
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{recipe.name}/{entry.filename}"
    return entry.url


def _read_records(dl_dir: Path) -> dict:
    """Pinned digests, keeping only well-formed entries written after a content check
    (records from older versions were pinned before it, so they are not trusted)."""
    try:
        raw = read_json(dl_dir / VERIFIED_RECORD)
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    good = {}
    for name, rec in raw.items():
        if (isinstance(rec, dict) and rec.get("checked") is True and isinstance(rec.get("size"), int)
                and isinstance(rec.get("sha256"), str) and len(rec["sha256"]) == 64):
            good[name] = rec
    return good


def _record(recipe: Recipe, fetched: list[_Fetched]) -> None:
    if not fetched:
        return
    dl_dir = paths.downloads_dir() / recipe.name
    records = _read_records(dl_dir)
    for f in fetched:
        records[f.entry.filename] = f.record
    write_json(dl_dir / VERIFIED_RECORD, records)


def _discard(recipe: Recipe, fetched: list[_Fetched], archive: Path | None) -> None:
    """Delete the archive(s) at fault and their pinned digests, so the next run refetches."""
    bad = [f for f in fetched if f.path == archive] if archive is not None else []
    if not bad:  # a member check or a nested archive: blame every extracted download
        bad = [f for f in fetched if f.entry.extract]
    dl_dir = paths.downloads_dir() / recipe.name
    records = _read_records(dl_dir)
    for f in bad:
        f.path.unlink(missing_ok=True)
        records.pop(f.entry.filename, None)
    if (dl_dir / VERIFIED_RECORD).exists():
        write_json(dl_dir / VERIFIED_RECORD, records)


def _file_digest(path: Path, alg: str) -> str:
    h = hashlib.new(alg)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            h.update(block)
    return h.hexdigest()


def _fetch_http(recipe: Recipe, *, mirror, retries) -> list[_Fetched]:
    dl_dir = paths.downloads_dir() / recipe.name
    records = _read_records(dl_dir)
    n_retries = _retries(retries)
    out = []
    many = len(recipe.files) > 1
    for entry in tqdm(recipe.files, desc=recipe.name, unit="file", disable=not many):
        rec = records.get(entry.filename)
        if entry.known_hash:
            alg, want = entry.known_hash.split(":")
        elif rec is not None:
            alg, want = "sha256", rec["sha256"]
        else:
            alg, want = "sha256", None
        size = entry.size if entry.size is not None else (rec["size"] if rec else None)
        path = dl_dir / entry.filename
        url = _url(recipe, entry, mirror)
        if path.is_file():
            # a cached copy is used only if it matches a published or pinned digest;
            # anything else under the final name (a partial file, a copy never
            # checked) is fetched again
            if want is not None and (size is None or path.stat().st_size == size) \
                    and _file_digest(path, alg) == want:
                out.append(_Fetched(entry, path, None))
                continue
            path.unlink()
        got = _download(recipe, entry, url, path, alg=alg, want=want, size=size, retries=n_retries,
                        progress=not many)
        record = None
        if want is None:
            record = {"sha256": got, "size": path.stat().st_size, "url": url, "checked": True}
            if not entry.extract:
                # a plain file has no content check beyond its length, which the
                # transfer has just passed: pin it now, so that a failure later in a
                # long list (AMI's meetings) does not cost the files fetched so far
                records[entry.filename] = record
                write_json(dl_dir / VERIFIED_RECORD, records)
                record = None
        out.append(_Fetched(entry, path, record))
    return out


def _part_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{PART_SUFFIX}")


def _download(recipe: Recipe, entry: FileEntry, url: str, path: Path, *, alg: str, want: str | None,
              size: int | None, retries: int, progress: bool) -> str:
    """Fetch ``url`` to ``path`` through its resumable ``.part`` file; return its digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _part_path(path)
    try:
        return _attempts(recipe, entry, url, path, tmp, alg=alg, want=want, size=size,
                         retries=retries, progress=progress)
    except BaseException:
        # A .part worth resuming is kept; an empty one (a full disk, a refused request) is not.
        if tmp.is_file() and tmp.stat().st_size == 0:
            tmp.unlink(missing_ok=True)
        raise


def _attempts(recipe: Recipe, entry: FileEntry, url: str, path: Path, tmp: Path, *, alg: str,
              want: str | None, size: int | None, retries: int, progress: bool) -> str:
    """The transfer, retried; each attempt resumes from the bytes in ``tmp``."""
    last: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(RETRY_WAIT_S * attempt, 10.0))
        try:
            digest = _stream(recipe, entry, url, tmp, alg=alg, size=size, progress=progress)
            if want is not None and digest != want:
                raise _Mismatch(f"{alg} {digest} is not the expected {want}")
            os.replace(tmp, path)
            return digest
        except _Mismatch as e:
            last = e
            tmp.unlink(missing_ok=True)  # wrong bytes: never resumed from
        except (_Transfer, requests.exceptions.RequestException) as e:
            last = e  # the bytes received so far stay in tmp: the next attempt resumes
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status is not None and 400 <= status < 500:
                tmp.unlink(missing_ok=True)
                break  # the server said no: asking again will not change its mind
    n = attempt + 1
    if isinstance(last, _Mismatch):
        hint = ""
        if not entry.known_hash and want is not None:
            hint = (f"; if the publisher changed the file on purpose, delete its entry in "
                    f"{path.parent / VERIFIED_RECORD} to accept the new one")
        raise UserError(f"{recipe.name}: {entry.filename} from {url} failed verification after "
                        f"{n} attempt(s) and was discarded: {_one_line(last)}{hint}")
    kept = tmp.stat().st_size if tmp.is_file() else 0
    raise UserError(f"{recipe.name}: could not fetch {url} after {n} attempt(s): {_one_line(last)}"
                    + (f" ({kept} bytes kept in {tmp}: the next download resumes there)"
                       if kept else ""))


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _get_from(url: str, part: Path, size: int | None):
    """GET ``url``, asking for the bytes after those already in ``part``; return
    (response, offset, total): offset 0 means the body is the whole file, total is the
    file's length when the server says it."""
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset >= size:
        offset = 0  # as long as the whole file, or longer: it cannot be resumed
    # identity encoding: Content-Length then counts the bytes we store
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    r = requests.get(url, stream=True, timeout=HTTP_TIMEOUT_S, headers=headers)
    if offset and r.status_code == 416:  # the range is past the file's end: start again
        r.close()
        part.unlink()
        return _get_from(url, part, size)
    try:
        r.raise_for_status()
    except requests.exceptions.HTTPError:
        r.close()
        raise
    length = r.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    m = _CONTENT_RANGE.fullmatch(r.headers.get("Content-Range", "").strip())
    if r.status_code == 206:
        if offset and m and int(m[1]) == offset:
            total = int(m[3]) if m[3].isdigit() else (None if length is None else offset + length)
            return r, offset, total
        r.close()  # a part of the file, but not the one asked for: start again, from nothing
        part.unlink(missing_ok=True)
        raise _Transfer(f"the server sent another range ({r.headers.get('Content-Range')!r}) "
                        f"than bytes={offset}-")
    return r, 0, length  # a 200: the whole file (a server without ranges, or no range asked)


def _stream(recipe: Recipe, entry: FileEntry, url: str, tmp: Path, *, alg: str, size: int | None,
            progress: bool) -> str:
    r, offset, announced = _get_from(url, tmp, size)
    with r:
        if size is None and announced is None and not entry.known_hash:
            raise UserError(
                f"{recipe.name}: {url} publishes no digest and the server sent no Content-Length, so a "
                f"truncated transfer could not be told from a complete one; add size = <bytes> for "
                f"{entry.filename} to {recipe.folder / 'checksums.toml' if recipe.folder else 'checksums.toml'}"
                + (" or fetch it with --via kaggle" if any(s.kind == "kaggle" for s in recipe.sources) else ""))
        if size is not None and announced is not None and announced != size:
            raise _Mismatch(f"the server announces {announced} bytes, expected {size} bytes")
        h = _prefix_digest(tmp, offset, alg)
        received = offset
        if offset:
            print(f"{entry.filename}: resuming after {offset} bytes", file=sys.stderr)
        with open(tmp, "r+b" if offset else "wb") as f, tqdm(
                total=announced or size, initial=offset, unit="B", unit_scale=True,
                desc=entry.filename, disable=None if progress else True, leave=False) as bar:
            if offset:  # append after the bytes kept (and drop any beyond them)
                f.seek(offset)
                f.truncate()
            for chunk in r.iter_content(chunk_size=CHUNK_BYTES):
                f.write(chunk)
                h.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if announced is not None and received != announced:
        raise _Transfer(f"transfer ended after {received} of {announced} bytes")
    if size is not None and received != size:
        raise _Mismatch(f"size of downloaded file ({received} bytes) is not the expected {size} bytes")
    return h.hexdigest()


def _prefix_digest(path: Path, n: int, alg: str):
    """A hash object fed with the first ``n`` bytes of ``path`` (those a resume keeps)."""
    h = hashlib.new(alg)
    if n:
        with open(path, "rb") as f:
            while n > 0:
                block = f.read(min(CHUNK_BYTES, n))
                if not block:
                    raise _Transfer(f"{path} shrank while resuming")
                h.update(block)
                n -= len(block)
    return h


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _unpack(recipe: Recipe, fetched: list[_Fetched], tmp: Path) -> None:
    for f in fetched:
        if f.entry.extract:
            safe_extract(f.path, tmp)
        else:
            _link_or_copy(f.path, tmp / f.entry.filename)
    _check_members(recipe, tmp)
    if recipe.nested_zips:
        extract_nested_zips(tmp)


def _check_members(recipe: Recipe, root: Path) -> None:
    for m in recipe.members:
        hits = sorted(root.rglob(m.name))
        if not hits:
            raise ArchiveError(f"{recipe.name}: the archive holds no {m.name!r}, which has a published digest")
        p = hits[0]
        if m.size is not None and p.stat().st_size != m.size:
            raise ArchiveError(f"{recipe.name}: {m.name} is {p.stat().st_size} bytes, expected {m.size}; "
                               f"the archive was discarded")
        for alg, want in (("sha256", m.sha256), ("md5", m.md5)):
            if want and _file_digest(p, alg) != want:
                raise ArchiveError(f"{recipe.name}: {alg} of {m.name} does not match the published {want}; "
                                   f"the archive was discarded")


# ----------------------------------------------------------------- extraction

def _unsafe_reason(name: str) -> str | None:
    """Why an archive member name could land outside the target, or None."""
    if not name:
        return "empty name"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PureWindowsPath(name).is_absolute():
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "'..' in path"
    return None


def _refuse(archive: Path, member: str, why: str) -> ArchiveError:
    return ArchiveError(f"refusing to extract {archive.name}: member {member!r} is unsafe ({why})", archive)


class _Budget:
    """Running total of declared member sizes against the size and ratio caps."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.packed = max(1, archive.stat().st_size)
        self.total = 0

    def add(self, member: str, size: int) -> None:
        self.total += max(0, size)
        if self.total > MAX_EXTRACTED_BYTES:
            raise ArchiveError(
                f"refusing to extract {self.archive.name}: at member {member!r} it expands to more than "
                f"{MAX_EXTRACTED_BYTES} bytes (download.MAX_EXTRACTED_BYTES)", self.archive)
        if self.total > RATIO_FLOOR_BYTES and self.total > MAX_RATIO * self.packed:
            raise ArchiveError(
                f"refusing to extract {self.archive.name}: at member {member!r} it expands "
                f"{self.total / self.packed:.0f} times its size, more than download.MAX_RATIO = "
                f"{MAX_RATIO} (a decompression bomb?)", self.archive)


# what a damaged archive raises while it is read (gzip's BadGzipFile is an OSError:
# it is caught by name so that a full disk is still reported as a full disk)
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, lzma.LZMAError, gzip.BadGzipFile,
            NotImplementedError)


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar (any compression) or zip archive into ``dest``.

    Every member is checked before anything is written: absolute names, '..'
    components, links and special files are refused with the member named, and
    so is an archive whose members add up to more than ``MAX_EXTRACTED_BYTES``
    or to more than ``MAX_RATIO`` times its own size. tarfile's "data" filter
    is applied too, as a second line of defence. A truncated or corrupt archive
    (bad CRC, early end) raises ArchiveError.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest)
        else:
            _extract_tar(archive, dest)
    except _CORRUPT as e:
        raise ArchiveError(f"{archive.name} is truncated or corrupt: {_one_line(e) or type(e).__name__}",
                           archive) from None


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        budget = _Budget(archive)
        for info in zf.infolist():
            why = _unsafe_reason(info.filename)
            if why is None and stat.S_ISLNK(info.external_attr >> 16):
                why = "symbolic link"
            if why:
                raise _refuse(archive, info.filename, why)
            budget.add(info.filename, info.file_size)
        # zipfile stops each member at its declared size and checks its CRC
        zf.extractall(dest)


def _extract_tar(archive: Path, dest: Path) -> None:
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError:
        raise ArchiveError(f"{archive.name} is not a complete zip or tar archive (truncated or corrupt)",
                           archive) from None
    with tf:
        budget = _Budget(archive)
        # iterating reads one header at a time, so a bomb is stopped before its
        # members are decompressed
        for m in tf:
            why = _unsafe_reason(m.name)
            if why is None and m.issym():
                why = "symbolic link"
            elif why is None and m.islnk():
                why = "hard link"
            elif why is None and not (m.isfile() or m.isdir()):
                why = "special file"
            if why:
                raise _refuse(archive, m.name, why)
            budget.add(m.name, m.size)
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members checked above
            tf.extractall(dest)


def extract_nested_zips(root: Path, max_depth: int = 3) -> None:
    """Replace every ``X.zip`` below ``root`` by a folder ``X`` holding its contents."""
    for _ in range(max_depth):
        zips = sorted(p for p in Path(root).rglob("*.zip") if p.is_file())
        if not zips:
            return
        for z in zips:
            out = z.with_suffix("")
            safe_extract(z, out)
            z.unlink()
    raise ArchiveError(f"zip archives nested more than {max_depth} deep below {root}")


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when possible (no second copy of large audio), else copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_file)
    else:
        _link_file(src, dst)


def _link_file(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -------------------------------------------------------------------- kaggle

def _fetch_kaggle(recipe: Recipe, src: Source) -> Path:
    require_kaggle_credentials()
    import kagglehub  # imported only here: it is slow and needs credentials

    out = paths.downloads_dir() / recipe.name / "kaggle"
    try:
        return Path(kagglehub.dataset_download(src.handle, output_dir=str(out)))
    except Exception as e:  # kagglehub raises its own classes plus requests' errors
        if type(e).__name__ == "UnauthenticatedError" or " 401" in str(e) or " 403" in str(e):
            raise UserError(f"{KAGGLE_MISSING} (Kaggle said: {_one_line(e)})") from None
        raise UserError(f"{recipe.name}: Kaggle download of {src.handle} failed: {_one_line(e)}") from None


def _place(src: Source, tree: Path, tmp: Path) -> None:
    """Apply the recipe's placement rules to a mirror's tree."""
    for rule in src.place:
        hits = sorted(tree.rglob(rule.glob))
        if rule.parent:
            hits = sorted({h.parent for h in hits})
        if not hits:
            raise UserError(f"{src.handle}: nothing named {rule.glob!r} below {tree}; "
                            "the mirror's layout may have changed")
        if rule.to is not None:
            _link_or_copy(hits[0], tmp / rule.to)
        else:
            for h in hits:
                _link_or_copy(h, tmp / rule.into / h.name)


# ------------------------------------------------------------------------ CLI

def cli_download(args: argparse.Namespace) -> int:
    if args.name != "all":
        path, status = _obtain(load_recipe(args.name), via=args.via, skip_manual=args.skip_manual,
                               mirror=None, retries=None)
        print(f"{args.name}: {'not present (manual)' if status == 'missing' else status}: {path}")
        return 0
    # 'all': carry on past failures and absent manual datasets, then summarise.
    rows, bad = [], False
    for name in recipe_names():
        recipe = load_recipe(name)
        via = args.via if args.via in {s.kind for s in recipe.sources} else None
        try:
            _, status = _obtain(recipe, via=via, skip_manual=True, mirror=None, retries=None)
        except UserError as e:
            print(f"{name}: error: {e}", file=sys.stderr)
            status = "failed"
        if status == "missing":
            status = "missing (manual)"
            bad = bad or not args.skip_manual
        bad = bad or status == "failed"
        rows.append((name, status, str(paths.data_dir(name))))
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    print("\n".join(f"{n.ljust(w0)}  {s.ljust(w1)}  {p}" for n, s, p in rows))
    return 1 if bad else 0


def _ours_to_delete() -> tuple[list[Path], list[Path]]:
    """(what ``clean-data`` deletes, what it leaves alone) under GABORBENCH_HOME.

    Deleted: extracted datasets that hold this module's completion marker (and
    their half-built ``.NAME.partial-*`` siblings), and in ``downloads/NAME/`` the
    files a recipe names, the pinned-digest record, transfer temporaries and
    kagglehub's folder. Anything else (a manually placed dataset, a user's file, a
    link) is left alone and listed. Links are never followed below ``data/`` and
    ``downloads/`` (those two may be links to a larger disk: their content counts).
    """
    delete: list[Path] = []
    keep: list[Path] = []
    data = paths.home() / "data"
    for p in sorted(data.iterdir()) if data.is_dir() else []:
        if p.is_symlink() or not p.is_dir():
            keep.append(p)
        elif (p / COMPLETE_MARKER).is_file() and not (p / COMPLETE_MARKER).is_symlink():
            delete.append(p)
        elif p.name.startswith(".") and ".partial-" in p.name:
            delete.append(p)
        else:
            keep.append(p)
    dl = paths.downloads_dir()
    try:
        names = set(recipe_names())
    except UserError:
        names = set()
    for d in sorted(dl.iterdir()) if dl.is_dir() else []:
        if d.is_symlink() or not d.is_dir() or d.name not in names:
            keep.append(d)
            continue
        try:
            recipe = load_recipe(d.name)
            named = {e.filename for e in recipe.files}
        except UserError:
            named = set()
        for p in sorted(d.rglob("*")):
            if p.is_dir() and not p.is_symlink():
                continue
            rel = p.relative_to(d).as_posix()
            if (rel in named or rel == VERIFIED_RECORD or PART_INFIX in p.name
                    or (p.name.startswith(".") and p.name.endswith(PART_SUFFIX))
                    or rel.startswith("kaggle/")):
                delete.append(p)
            else:
                keep.append(p)
    return delete, keep


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    else:
        p.unlink(missing_ok=True)


def _prune_empty(root: Path) -> None:
    """Remove folders under ``root`` (not ``root`` itself) that deletion left empty."""
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()),
                    key=lambda p: len(p.parts), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass  # not empty: something we did not write is still there


def cli_clean_data(args: argparse.Namespace) -> int:
    """Delete downloaded archives and extracted datasets that this project wrote (never
    twins, prepared manifests or feature caches: those are cheap to keep and keyed by
    data hash; never manually placed datasets or files it did not write)."""
    delete, keep = _ours_to_delete()
    if keep:
        print(f"leaving alone (not written by gaborbench downloads): "
              f"{', '.join(str(p) for p in keep[:10])}{' ...' if len(keep) > 10 else ''}")
    if not delete:
        print(f"nothing to delete under {paths.home()}")
        return 0
    listing = ", ".join(str(t) for t in delete[:20]) + (f" and {len(delete) - 20} more"
                                                        if len(delete) > 20 else "")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"would delete {listing}; pass --yes to confirm (no terminal to ask)")
        answer = input(f"Delete {listing}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    for t in delete:
        _remove(t)
        print(f"deleted {t}")
    _prune_empty(paths.downloads_dir())
    return 0
