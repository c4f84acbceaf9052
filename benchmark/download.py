"""Fetch, verify and extract the real datasets described by the recipes.

Layout under ``$GABORBENCH_HOME``:

- ``downloads/<name>/<filename>``: every file exactly as fetched and verified;
  ``downloads/<name>/.verified.json`` records the sha256 of files whose
  publisher gives no digest (trust on first use: recorded on the first fetch
  that passes the size check, checked on every later use).
- ``data/<name>/``: the extracted dataset in the layout the adapters read. It is
  assembled in a temporary sibling folder and renamed into place in one step,
  with a completion marker inside, so a re-run skips it and an interrupted run
  never leaves a half-built folder under the final name.

http transfers go through pooch: it streams to a temporary file beside the
target, checks the digest, and only then renames, so a corrupt or truncated file
never enters the cache. A failed transfer is retried from the start (pooch and
requests offer no byte-range resume); ``GABORBENCH_DOWNLOAD_RETRIES`` sets how
many times. ``GABORBENCH_MIRROR`` (or ``mirror=``) replaces every recipe URL
with ``<mirror>/<name>/<filename>``, for local mirrors and for the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tarfile
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath

from benchmark import paths
from benchmark.errors import UserError
from benchmark.io import read_json, write_json
from benchmark.recipes import FileEntry, Recipe, Source, load_recipe, recipe_names

MIRROR_ENV = "GABORBENCH_MIRROR"
RETRIES_ENV = "GABORBENCH_DOWNLOAD_RETRIES"
DEFAULT_RETRIES = 3
COMPLETE_MARKER = ".gaborbench-complete.json"
VERIFIED_RECORD = ".verified.json"
HTTP_TIMEOUT_S = 60

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
    if target.exists():
        if all((target / e).exists() for e in recipe.expect):
            return target, "present"      # placed by hand: accepted, not verified
        if src.kind != "manual":
            raise UserError(f"{target} exists but is incomplete and was not built by gaborbench; "
                            f"move it away or run `gaborbench clean-data`, then download again")
    if src.kind == "manual":
        if skip_manual:
            print(f"skipping: {manual_instructions(recipe)}")
            return target, "missing"
        raise UserError(manual_instructions(recipe))
    if src.kind == "kaggle":
        tree = _fetch_kaggle(recipe, src)
        _assemble(recipe, target, src, lambda tmp: _place(src, tree, tmp))
    else:
        fetched = _fetch_http(recipe, mirror=mirror, retries=retries)
        _assemble(recipe, target, src, lambda tmp: _unpack(recipe, fetched, tmp))
    return target, "fetched"


def _assemble(recipe: Recipe, target: Path, src: Source, fill) -> None:
    """Build the dataset folder beside ``target`` and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{recipe.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()  # not mkdtemp: its 0700 mode would stick to the renamed folder
        fill(tmp)
        missing = [e for e in recipe.expect if not (tmp / e).exists()]
        if missing:
            raise UserError(f"{recipe.name}: after {src.kind} download the expected paths are missing: "
                            f"{', '.join(missing)} (the source's layout may have changed)")
        write_json(tmp / COMPLETE_MARKER, {
            "dataset": recipe.name, "version": recipe.version, "source": src.kind,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------- http

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


class _SizedDownloader:
    """pooch's HTTP downloader plus a size check, run before pooch checks the
    digest and renames: a short or long file is rejected (and retried) early."""

    def __init__(self, size: int | None, progressbar: bool):
        import pooch

        self.size = size
        self.inner = pooch.HTTPDownloader(progressbar=progressbar, timeout=HTTP_TIMEOUT_S)

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        result = self.inner(url, output_file, pooch_obj, check_only=check_only)
        if not check_only and self.size is not None:
            got = os.path.getsize(output_file)
            if got != self.size:
                raise ValueError(f"size of downloaded file ({got} bytes) is not the expected {self.size} bytes")
        return result


def _fetch_http(recipe: Recipe, *, mirror, retries) -> list[tuple[FileEntry, Path]]:
    import pooch
    import requests
    from tqdm import tqdm

    dl_dir = paths.downloads_dir() / recipe.name
    record_path = dl_dir / VERIFIED_RECORD
    records = read_json(record_path) if record_path.is_file() else {}
    n_retries = _retries(retries)
    out = []
    many = len(recipe.files) > 1
    for entry in tqdm(recipe.files, desc=recipe.name, unit="file", disable=not many):
        recorded = records.get(entry.filename)
        known = entry.known_hash or (f"sha256:{recorded['sha256']}" if recorded else None)
        url = _url(recipe, entry, mirror)
        fetcher = pooch.create(path=dl_dir, base_url="", registry={entry.filename: known},
                               urls={entry.filename: url}, retry_if_failed=n_retries)
        try:
            path = Path(fetcher.fetch(entry.filename, downloader=_SizedDownloader(entry.size, not many)))
        except ValueError as e:
            # pooch only renames verified files, so whatever sits under the final name
            # now is a stale copy that failed the check: drop it too
            (dl_dir / entry.filename).unlink(missing_ok=True)
            raise UserError(f"{recipe.name}: {entry.filename} from {url} failed verification after "
                            f"{n_retries + 1} attempt(s) and was discarded: {_one_line(e)}") from None
        except requests.exceptions.RequestException as e:
            raise UserError(f"{recipe.name}: could not fetch {url} after {n_retries + 1} attempt(s): "
                            f"{_one_line(e)}") from None
        if entry.size is not None and path.stat().st_size != entry.size:
            # a cached file from before the size was recorded
            path.unlink()
            raise UserError(f"{recipe.name}: cached {path} has the wrong size and was removed; run again")
        if known is None:
            records[entry.filename] = {"sha256": pooch.file_hash(str(path), alg="sha256"),
                                       "size": path.stat().st_size, "url": url}
            write_json(record_path, records)
        out.append((entry, path))
    return out


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _unpack(recipe: Recipe, fetched: list[tuple[FileEntry, Path]], tmp: Path) -> None:
    for entry, path in fetched:
        if entry.extract:
            safe_extract(path, tmp)
        else:
            _link_or_copy(path, tmp / entry.filename)
    _check_members(recipe, tmp)
    if recipe.nested_zips:
        extract_nested_zips(tmp)


def _check_members(recipe: Recipe, root: Path) -> None:
    import pooch

    for m in recipe.members:
        hits = sorted(root.rglob(m.name))
        if not hits:
            raise UserError(f"{recipe.name}: the archive holds no {m.name!r}, which has a published digest")
        p = hits[0]
        if m.size is not None and p.stat().st_size != m.size:
            raise UserError(f"{recipe.name}: {m.name} is {p.stat().st_size} bytes, expected {m.size}")
        for alg, want in (("sha256", m.sha256), ("md5", m.md5)):
            if want and pooch.file_hash(str(p), alg=alg) != want:
                raise UserError(f"{recipe.name}: {alg} of {m.name} does not match the published {want}")


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


def _refuse(archive: Path, member: str, why: str) -> UserError:
    return UserError(f"refusing to extract {archive.name}: member {member!r} is unsafe ({why})")


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar (any compression) or zip archive into ``dest``.

    Every member is checked before anything is written: absolute names, '..'
    components, links and special files are refused with the member named.
    tarfile's "data" filter is applied too, as a second line of defence.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                why = _unsafe_reason(info.filename)
                if why is None and stat.S_ISLNK(info.external_attr >> 16):
                    why = "symbolic link"
                if why:
                    raise _refuse(archive, info.filename, why)
            zf.extractall(dest)
        return
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError:
        raise UserError(f"{archive} is neither a zip nor a tar archive") from None
    with tf:
        for m in tf.getmembers():
            why = _unsafe_reason(m.name)
            if why is None and m.issym():
                why = "symbolic link"
            elif why is None and m.islnk():
                why = "hard link"
            elif why is None and not (m.isfile() or m.isdir()):
                why = "special file"
            if why:
                raise _refuse(archive, m.name, why)
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
    raise UserError(f"zip archives nested more than {max_depth} deep below {root}")


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


def cli_clean_data(args: argparse.Namespace) -> int:
    """Delete downloaded archives and extracted datasets (never twins, prepared
    manifests or feature caches: those are cheap to keep and keyed by data hash)."""
    targets = [p for p in (paths.downloads_dir(), paths.home() / "data") if p.exists()]
    if not targets:
        print(f"nothing to delete under {paths.home()}")
        return 0
    listing = ", ".join(str(t) for t in targets)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"would delete {listing}; pass --yes to confirm (no terminal to ask)")
        answer = input(f"Delete {listing} (includes manually placed datasets)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    for t in targets:
        shutil.rmtree(t)
        print(f"deleted {t}")
    return 0
