"""File handling that holds against hostile files.

- Atomic writes: a reader never sees a half-written file. Temporaries are named
  ``.<name>.<pid>.*`` so that one left by a killed process can be recognised and
  removed by the next write of the same file (:func:`remove_stale_temporaries`).
- Reads of files whose name a user controls (run files, records) open regular
  files only, without blocking and up to a size limit: a FIFO named ``*.json``
  must not hang a report, a device file must not be read forever.
- Lock files are opened without truncation and without following a symlink: a
  link planted at a lock path must not empty (or even open) its target.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from benchmark.errors import UserError

# Run files are a few hundred kB; anything far larger is not one of ours.
MAX_RECORD_BYTES = 64 << 20
# A temporary left by a dead process is removed only after this long, so that a
# process on another machine writing into a shared folder (its pid means nothing
# here) is never disturbed mid-write.
STALE_AFTER_S = 3600.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True   # someone else's process, or a number we cannot judge: leave it
    return True


def temp_prefix(name: str) -> str:
    """The prefix of this process's temporaries for the file or folder ``name``."""
    return f".{name}.{os.getpid()}."


def remove_stale_temporaries(folder: str | os.PathLike, name: str, suffix: str = ".tmp",
                             *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove ``.<name>.<pid>.*<suffix>`` in ``folder`` left by processes that no longer
    exist (a kill skips every ``finally``); return what was removed. Links are unlinked,
    never followed; nothing else in the folder is touched."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(\d+)\.")
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = pattern.match(e.name)
        if not m or not e.name.endswith(suffix) or pid_alive(int(m.group(1))):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if now - st.st_mtime < older_than_s:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            continue  # another process cleaned it first, or it is not ours to remove
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> None:
    """Write JSON atomically with sorted keys, so equal objects give equal bytes."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def probe_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and write one byte in it (then remove it), so that a read-only,
    full or misplaced output folder is refused before any work starts; OSError names it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(prefix=".gaborbench-probe.", dir=folder) as f:
        f.write(b"\0")
        f.flush()
        os.fsync(f.fileno())
    return folder


def read_regular_bytes(path: str | os.PathLike, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of a regular file (links to one are followed), never more than ``limit``.

    A FIFO, socket or device raises OSError at once instead of blocking; so does a
    file larger than ``limit``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit >> 20} MB", str(path))
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit >> 20} MB", str(path))
        return data
    finally:
        os.close(fd)


def read_record(path: str | os.PathLike, limit: int = MAX_RECORD_BYTES) -> Any:
    """Decode a JSON record from a regular file; OSError, UnicodeDecodeError or ValueError
    (RecursionError, for absurdly nested input, becomes a ValueError)."""
    text = read_regular_bytes(path, limit).decode("utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


@contextmanager
def file_lock(path: str | os.PathLike, *, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if absent) until the block ends.

    The lock file is opened without truncation (its content is never written) and
    with O_NOFOLLOW; a symlink or anything but a regular file there is refused with a
    UserError that names it. ``waiting``, when given, is printed (to stderr) if
    another process holds the lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UserError(f"lock file {path} is a symbolic link; remove it (it is only a lock) "
                            f"and run again") from None
        if e.errno == errno.ENXIO:  # a FIFO without a writer, or a socket
            raise UserError(f"lock file {path} is not a regular file; remove it and run again") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"lock file {path} is not a regular file; remove it and run again")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
