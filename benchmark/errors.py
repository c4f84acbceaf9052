"""Errors a user can act on. The CLI prints them as one line (exit status 2)."""

from __future__ import annotations

import difflib
import typing


class UserError(Exception):
    """Bad input or a missing prerequisite, with a message that says what to do."""


def unknown(kind: str, name: str, known) -> typing.NoReturn:
    """The one did-you-mean error of every registry (systems, datasets, tasks, profiles, twins)."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})")


def printable(text: str) -> str:
    """``text`` as one line: control characters from a hostile name (a newline in a path)
    are written escaped, so they cannot forge further lines of a message or a script."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
