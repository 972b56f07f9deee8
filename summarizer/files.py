"""Writing a file atomically: a crash or a kill leaves the old file or the new one, never half.

The data goes to a temporary file in the same folder, is flushed and fsynced, and
the temporary file is renamed over the target. ``tempfile.mkstemp`` creates its
file with mode 0600; the file gets the mode a plain ``open(path, "w")`` would
leave instead: the existing file's mode, or 0666 less the umask for a new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def _mode_for(path: Path) -> int:
    """The existing file's mode, or what open() would give a new one under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` via a temp file and a rename."""
    path = Path(path).expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
