"""Dataset recipes: the declarative TOML files under ``datasets/<name>/``.

Each recipe folder holds ``manifest.toml`` (what the dataset is and how to obtain
it), ``checksums.toml`` (one entry per file fetched over http) and a README. This
module reads and validates them into frozen dataclasses; it never downloads.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark import paths
from benchmark.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SOURCE_KINDS = ("http", "kaggle", "manual")


@dataclass(frozen=True)
class Placement:
    """A rule that moves part of a mirror's tree into the canonical layout.

    ``glob`` is matched against names anywhere below the fetched tree (sorted, so
    the choice is deterministic). ``to`` puts the first match at that relative
    path; ``into`` puts every match inside that folder under its own name;
    ``parent`` uses the matched file's folder instead of the file.
    """

    glob: str
    to: str | None = None
    into: str | None = None
    parent: bool = False


@dataclass(frozen=True)
class Source:
    kind: str                         # "http" | "kaggle" | "manual"
    provider: str = ""                # informative: zenodo, figshare, github, ...
    record: str = ""                  # Zenodo record / figshare article id, when there is one
    handle: str = ""                  # Kaggle dataset handle
    note: str = ""
    steps: tuple[str, ...] = ()       # manual instructions
    place: tuple[Placement, ...] = ()


@dataclass(frozen=True)
class FileEntry:
    """One file fetched over http. ``filename`` is its path inside the download cache
    and, unless it is an archive to extract, inside the dataset folder."""

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    extract: bool = False

    @property
    def known_hash(self) -> str | None:
        """The published digest in pooch's ``alg:hex`` form, or None."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        return None


@dataclass(frozen=True)
class MemberCheck:
    """A file inside an extracted archive that has a published digest of its own."""

    name: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    title: str
    task: str
    homepage: str
    licence: str
    citation: str
    sample_rate: int | str
    size: str
    expect: tuple[str, ...]
    sources: tuple[Source, ...]
    files: tuple[FileEntry, ...] = ()
    members: tuple[MemberCheck, ...] = ()
    nested_zips: bool = False
    split: str = ""
    folder: Path | None = None
    benchmark: dict = field(default_factory=dict)  # [benchmark]: folds, features, metrics, ...

    @property
    def manual(self) -> bool:
        return all(s.kind == "manual" for s in self.sources)

    def source(self, via: str | None = None) -> Source:
        """The source to use: the first one unless ``via`` names another kind."""
        if via is None:
            return self.sources[0]
        for s in self.sources:
            if s.kind == via:
                return s
        offered = ", ".join(s.kind for s in self.sources)
        raise UserError(f"dataset {self.name!r} cannot be fetched via {via!r}; it offers: {offered}")

    def obtain_text(self) -> str:
        """One line saying how to obtain the data."""
        parts = []
        for s in self.sources:
            if s.kind == "kaggle":
                parts.append(f"kaggle {s.handle}")
            elif s.kind == "http":
                parts.append(f"http ({s.provider})" if s.provider else "http")
            else:
                parts.append("manual")
        return " | ".join(parts)


# Further folders of recipes (os.pathsep-separated), read after the repository's own: a
# dataset kept outside the repository is its recipe folder there, plus its adapter and twin
# in modules named in $GABORBENCH_PLUGINS.
RECIPES_ENV = "GABORBENCH_RECIPES"


def recipes_dir() -> Path:
    return paths.DATASETS_DIR


def recipe_roots() -> list[Path]:
    """The repository's recipe folder, then those named in ``$GABORBENCH_RECIPES``."""
    extra = [Path(p).expanduser() for p in os.environ.get(RECIPES_ENV, "").split(os.pathsep) if p]
    return [recipes_dir(), *extra]


def _roots(root: Path | None) -> list[Path]:
    return [Path(root)] if root is not None else recipe_roots()


def recipe_names(root: Path | None = None) -> list[str]:
    """Names of the recipe folders (those holding a manifest.toml), sorted."""
    return sorted({p.parent.name for r in _roots(root) for p in r.glob("*/manifest.toml")})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"recipe file missing: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None


class _Fields:
    """Typed access to a TOML table that names the file and field on error."""

    def __init__(self, table: dict[str, Any], path: Path, where: str = ""):
        self.t, self.path, self.where = table, path, where

    def _err(self, key: str, what: str) -> UserError:
        return UserError(f"{self.path}: field '{self.where}{key}' {what}")

    def get(self, key: str, types: type | tuple[type, ...], default: Any = ..., *, nonempty=False):
        if key not in self.t:
            if default is ...:
                raise self._err(key, "is missing")
            return default
        v = self.t[key]
        # bool is an int subclass: never accept it for a number
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in _as_tuple(types)):
            names = "/".join(t.__name__ for t in _as_tuple(types))
            raise self._err(key, f"must be {names}, got {type(v).__name__} {v!r}")
        if nonempty and not v:
            raise self._err(key, "must not be empty")
        return v

    def strings(self, key: str) -> tuple[str, ...]:
        v = self.get(key, list, [])
        if not all(isinstance(s, str) and s for s in v):
            raise self._err(key, "must be a list of non-empty strings")
        return tuple(v)

    def digest(self, key: str, length: int) -> str | None:
        v = self.get(key, str, None)
        if v is not None:
            v = v.lower()
            if len(v) != length or any(c not in "0123456789abcdef" for c in v):
                raise self._err(key, f"must be {length} hexadecimal digits, got {v!r}")
        return v


def _as_tuple(t):
    return t if isinstance(t, tuple) else (t,)


def _relative(path: Path, f: _Fields, key: str, value: str) -> str:
    p = Path(value)
    if p.is_absolute() or ".." in p.parts or value.startswith(("/", "\\")):
        raise f._err(key, f"must be a relative path inside the dataset folder, got {value!r}")
    return value


def _parse_source(table: Any, path: Path, i: int) -> Source:
    if not isinstance(table, dict):
        raise UserError(f"{path}: field 'sources[{i}]' must be a table")
    f = _Fields(table, path, f"sources[{i}].")
    kind = f.get("kind", str)
    if kind not in SOURCE_KINDS:
        raise f._err("kind", f"must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    place = []
    for j, rule in enumerate(f.get("place", list, [])):
        if not isinstance(rule, dict):
            raise f._err(f"place[{j}]", "must be a table")
        r = _Fields(rule, path, f"sources[{i}].place[{j}].")
        to, into = r.get("to", str, None), r.get("into", str, None)
        if (to is None) == (into is None):
            raise r._err("to", "or 'into' must be given (exactly one of them)")
        for k, v in (("to", to), ("into", into)):
            if v is not None:
                _relative(path, r, k, v)
        place.append(Placement(glob=r.get("glob", str, nonempty=True), to=to, into=into,
                               parent=r.get("parent", bool, False)))
    src = Source(kind=kind, provider=f.get("provider", str, ""), record=str(f.get("record", (str, int), "")),
                 handle=f.get("handle", str, ""), note=f.get("note", str, ""),
                 steps=f.strings("steps"), place=tuple(place))
    if kind == "kaggle" and src.handle.count("/") != 1:
        raise f._err("handle", f"must be 'owner/dataset' for a kaggle source, got {src.handle!r}")
    if kind == "manual" and not src.steps:
        raise f._err("steps", "must list the manual steps for a manual source")
    return src


def _parse_checksums(path: Path) -> tuple[tuple[FileEntry, ...], tuple[MemberCheck, ...]]:
    data = _read_toml(path)
    files, members = [], []
    for i, t in enumerate(data.get("files", [])):
        f = _Fields(t, path, f"files[{i}].")
        url = f.get("url", str, nonempty=True)
        if not url.startswith(("http://", "https://")):
            raise f._err("url", f"must be an http(s) URL, got {url!r}")
        size = f.get("size", int, None)
        if size is not None and size < 0:
            raise f._err("size", f"must be >= 0, got {size}")
        files.append(FileEntry(url=url, filename=_relative(path, f, "filename", f.get("filename", str, nonempty=True)),
                               size=size, sha256=f.digest("sha256", 64), md5=f.digest("md5", 32),
                               extract=f.get("extract", bool, False)))
    for i, t in enumerate(data.get("members", [])):
        f = _Fields(t, path, f"members[{i}].")
        m = MemberCheck(name=f.get("name", str, nonempty=True), size=f.get("size", int, None),
                        sha256=f.digest("sha256", 64), md5=f.digest("md5", 32))
        if m.size is None and not (m.sha256 or m.md5):
            raise f._err("size", "or a digest must be given for a member check")
        members.append(m)
    names = [e.filename for e in files]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"{path}: field 'files.filename' repeats {dup[0]!r}")
    return tuple(files), tuple(members)


def load_recipe(name: str, root: Path | None = None) -> Recipe:
    """Read and validate ``<root>/<name>/manifest.toml`` and ``checksums.toml``.

    ``root`` defaults to the repository's ``datasets/`` folder (tests pass their own).
    """
    names = recipe_names(root)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1) or [n for n in names if n.startswith(name)][:1]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown dataset {name!r}{hint} (known: {', '.join(names) or 'none'})")
    folder = next(r / name for r in _roots(root) if (r / name / "manifest.toml").is_file())
    mpath = folder / "manifest.toml"
    try:
        return _load_recipe(name, folder, mpath)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as e:
        # the field checks name most faults; whatever slips past them is still one line
        raise UserError(f"{mpath} (or its checksums.toml) is malformed ({type(e).__name__}: "
                        f"{' '.join(str(e).split())[:200]}); restore it from the repository") from None


def _load_recipe(name: str, folder: Path, mpath: Path) -> Recipe:
    f = _Fields(_read_toml(mpath), mpath)
    if f.get("name", str) != name:
        raise f._err("name", f"must equal the folder name {name!r}")
    sources = f.get("sources", list, nonempty=True)
    sample_rate = f.get("sample_rate", (int, str))
    files, members = _parse_checksums(folder / "checksums.toml")
    recipe = Recipe(
        name=name, version=str(f.get("version", (str, int))), title=f.get("title", str, name),
        task=f.get("task", str, nonempty=True), homepage=f.get("homepage", str, nonempty=True),
        licence=f.get("licence", str, nonempty=True), citation=f.get("citation", str, nonempty=True),
        sample_rate=sample_rate, size=f.get("size", str, nonempty=True),
        expect=tuple(_relative(mpath, f, "expect", e) for e in f.strings("expect")),
        sources=tuple(_parse_source(s, mpath, i) for i, s in enumerate(sources)),
        files=files, members=members, nested_zips=f.get("nested_zips", bool, False),
        split=f.get("split", str, ""), folder=folder, benchmark=f.get("benchmark", dict, {}),
    )
    if not recipe.expect:
        raise f._err("expect", "must list at least one path that proves the data is in place")
    if any(s.kind == "http" for s in recipe.sources) and not recipe.files:
        raise UserError(f"{folder / 'checksums.toml'}: field 'files' is empty but {mpath} offers an http source")
    return recipe


def describe_datasets(root: Path | None = None) -> str:
    """The table printed by ``gaborbench list datasets``."""
    rows = [("name", "task", "licence", "size", "how to obtain")]
    for n in recipe_names(root):
        r = load_recipe(n, root)
        rows.append((r.name, r.task, r.licence.split(" (")[0].split(";")[0], r.size.split(" (")[0], r.obtain_text()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    return "\n".join(lines)
