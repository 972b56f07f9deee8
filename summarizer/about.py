"""What this program is: its version, for results, user agents and ``--version``."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


@functools.cache
def package_version() -> str:
    """This package's version; looked up once (about 1 ms each time, on every result)."""
    try:
        return version("summarizer")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
