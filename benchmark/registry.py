"""One registry for every named, pluggable concept: systems, tasks, adapters, twins, metrics.

A :class:`Registry` maps names to entries. An entry is registered by the module
that defines it (``REGISTRY.register(name, entry)`` or the ``decorator``), or
lazily as a dotted name (``"package.module:attribute"``) that is imported on
first use. Discovery imports every module of the packages the registry was
given, by name, the first time any name is asked for, so this module depends on
no package it registers: the entries' modules import it, never the reverse.

Modules named in ``$GABORBENCH_PLUGINS`` (comma-separated) are imported too,
once, before any registry is read: a task, a dataset's adapter and twin, or a
system may live outside this repository.

An unknown name gets the one did-you-mean error of :func:`benchmark.errors.unknown`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Callable

from benchmark.errors import UserError, unknown

PLUGINS_ENV = "GABORBENCH_PLUGINS"
_plugins_loaded: set[str] = set()


def load_plugins() -> None:
    """Import each module named in ``$GABORBENCH_PLUGINS`` (once per name)."""
    for name in (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",")):
        if name and name not in _plugins_loaded:
            _plugins_loaded.add(name)
            importlib.import_module(name)


def resolve(dotted: str) -> Any:
    """``"package.module:attribute"`` (or a module's dotted name) -> the object."""
    module, _, attribute = dotted.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attribute.split(".")):
        obj = getattr(obj, part)
    return obj


def one_line(e: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    if isinstance(e, SyntaxError):
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}".rstrip(": ")


class Registry(Mapping):
    """Name -> entry, with discovery on first read and a did-you-mean for unknown names.

    ``packages``: dotted names of packages whose modules register entries when imported
    (modules whose name starts with ``_`` or is in ``skip`` are not imported).
    ``tolerant``: a module that fails to import is left out with one line on standard
    error (and in :attr:`broken`) instead of stopping every command.
    ``plugins``: whether reading it first imports the ``$GABORBENCH_PLUGINS`` modules.
    """

    def __init__(self, kind: str, packages: tuple[str, ...] = (), *, skip: tuple[str, ...] = (),
                 tolerant: bool = False, plugins: bool = True):
        self.kind, self.packages, self.skip, self.tolerant = kind, tuple(packages), skip, tolerant
        self.plugins = plugins
        self._entries: dict[str, Any] = {}
        self._owners: dict[str, str] = {}       # name -> module that registered it
        self.broken: dict[str, str] = {}        # module file -> why it was left out
        self._discovered = False

    # -- registering ---------------------------------------------------------

    def register(self, name: str, entry: Any, *, owner: str | None = None) -> Any:
        """Add ``entry`` under ``name`` (a dotted-name string is resolved on first use)."""
        owner = owner or getattr(entry, "__module__", None) or "?"
        if name in self._entries and self._entries[name] is not entry:
            first = self._owners[name].replace(".", "/") + ".py"
            raise ValueError(f"{self.kind} {name!r} is already registered by {first}: "
                             f"give this one another name")
        self._entries[name] = entry
        self._owners[name] = owner
        return entry

    def decorator(self, name: str, wrap: Callable[[Any], Any] | None = None):
        """``@REGISTRY.decorator(name)``: register the decorated object (or ``wrap(obj)``)."""

        def deco(obj):
            self.register(name, wrap(obj) if wrap else obj, owner=obj.__module__)
            return obj

        return deco

    # -- discovery -----------------------------------------------------------

    def discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for package in self.packages:
            pkg = importlib.import_module(package)
            for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
                if not mod.name.startswith("_") and mod.name not in self.skip:
                    self._import(f"{package}.{mod.name}")
        if self.plugins:
            load_plugins()

    def _import(self, module: str) -> None:
        if not self.tolerant:
            importlib.import_module(module)
            return
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 -- one broken file must not stop the others
            # A module that registered some entries before failing is left out whole.
            for name in [n for n, o in self._owners.items() if o == module]:
                del self._entries[name], self._owners[name]
            sys.modules.pop(module, None)
            where = module.replace(".", "/") + ".py"
            self.broken[where] = one_line(e)
            print(f"gaborbench: left out {where}: {self.broken[where]}", file=sys.stderr)

    # -- reading -------------------------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def require(self, name: str) -> Any:
        """The entry of ``name``, or the did-you-mean error naming every known one."""
        if name not in self:
            note = "".join(f"; {w} was left out ({why})" for w, why in self.broken.items())
            try:
                unknown(self.kind, name, sorted(self))
            except UserError as e:
                raise UserError(f"{e}{note}") from None
        return self[name]

    def __getitem__(self, name: str) -> Any:
        self.discover()
        entry = self._entries[name]
        if isinstance(entry, str):  # a lazy entry: imported on first use
            entry = self._entries[name] = resolve(entry)
        return entry

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self.discover()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"
