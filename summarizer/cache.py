"""Reuse of earlier results: a content-addressed cache in SQLite.

The key is a sha256 over everything that changes the answer (see
:func:`cache_key`): the article text, the title given to the prompt, the prompt's
name, version and hash, the model and where it is served, the instructor mode,
the schema version, temperature, ``max_tokens``, ``max_attempts`` and
``on_ungrounded``. Settings that only change how a call is made (timeouts,
retries, the key) are not in it.

The file lives at ``cache_dir/results.sqlite3`` in WAL mode with a busy timeout,
so several processes can read and write it at once. The cache is an
optimisation, never a reason to fail: a file that is corrupt, locked for too
long or unwritable is reported once (a warning on the ``summarizer`` logger)
and the run goes on without it.

    with ResultCache.for_settings(settings) as cache:
        result = cache.get(key)          # None on a miss; meta.cached is True on a hit
        cache.put(key, fresh_result)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pydantic import ValidationError

from summarizer.schema import SCHEMA_VERSION, SummaryResult

if TYPE_CHECKING:
    from summarizer.article import Article
    from summarizer.prompts import Prompt
    from summarizer.settings import Settings

__all__ = ["CACHE_FILE", "CacheStats", "ResultCache", "cache_key", "remove_cache_files"]

log = logging.getLogger("summarizer")

CACHE_FILE = "results.sqlite3"
_KEY_VERSION = "k1"  # bump when the key's ingredients change: old entries then simply miss
_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    article_sha256 TEXT NOT NULL,
    total_tokens INTEGER,
    result TEXT NOT NULL
)
"""


def _served_model(settings: Settings) -> str:
    """The model and where it runs, known before any server is started.

    A hosted or self-run endpoint is its host plus the model name. The embedded
    local model is named by what it serves (its size, or the GGUF file), not by
    its port, which changes with every run.
    """
    if not settings.uses_local_model:
        return f"{settings.endpoint_host}/{settings.resolved_model}"
    if settings.gguf is None:
        return f"local/{settings.local_model}"
    try:
        size = settings.gguf.stat().st_size
    except OSError:
        size = -1
    return f"local/{settings.gguf.name}:{size}"


def cache_key(article: Article, prompt: Prompt, title: str | None, settings: Settings) -> str:
    """The sha256 that identifies one answer; equal keys mean an equal request."""
    ingredients = {
        "article_sha256": article.sha256,
        "title": title,
        "prompt": [prompt.name, prompt.version, prompt.sha256],
        "model": _served_model(settings),
        "mode": settings.mode,
        "schema_version": SCHEMA_VERSION,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "max_attempts": settings.max_attempts,
        "on_ungrounded": settings.on_ungrounded,
        "language": settings.language,
    }
    canonical = json.dumps(ingredients, sort_keys=True, separators=(",", ":"))
    return f"{_KEY_VERSION}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


@dataclass
class CacheStats:
    """What ``summarizer cache stats`` prints."""

    path: Path
    entries: int = 0
    size_bytes: int = 0
    tokens: int = 0
    """Tokens the stored results cost when they were made: what hits save."""
    models: dict[str, int] = field(default_factory=dict)
    oldest: str | None = None
    newest: str | None = None


class ResultCache:
    """One connection to the result cache; a disabled or broken cache is a no-op."""

    def __init__(self, path: Path | None, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.hits = 0
        self.misses = 0
        self.error: BaseException | None = None
        """Why the cache was bypassed, if it was."""
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)

    @classmethod
    def for_settings(cls, settings: Settings) -> ResultCache:
        """The cache in ``settings.cache_dir``, or a disabled one when ``cache`` is off."""
        return cls(settings.cache_dir / CACHE_FILE if settings.cache else None)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    @property
    def corrupt(self) -> bool:
        """The file is not a database (as opposed to busy or unwritable)."""
        return type(self.error) is sqlite3.DatabaseError

    def _open(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=self.busy_timeout, isolation_level=None)
        except (sqlite3.Error, OSError) as error:
            self._bypass(error)
            return
        self._db = db
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(_SCHEMA)
        except sqlite3.Error as error:
            self._bypass(error)

    def _bypass(self, error: BaseException) -> None:
        """Say once what is wrong, then carry on without the cache."""
        self.error = error
        log.warning(
            "result cache %s is not usable (%s: %s); continuing without it "
            "(`summarizer cache clear` removes a corrupt file)",
            self.path,
            type(error).__name__,
            error,
        )
        self.close()

    def get(self, key: str) -> SummaryResult | None:
        """The stored result, marked ``meta.cached``, or None."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT result FROM results WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as error:
            self._bypass(error)
            return None
        result = None
        if row is not None:
            try:
                result = SummaryResult.model_validate_json(row[0])
            except ValidationError:
                log.debug("result cache: unreadable entry %s, treated as a miss", key)
        if result is None:
            self.misses += 1
            return None
        self.hits += 1
        result.meta.cached = True
        return result

    def put(self, key: str, result: SummaryResult) -> None:
        """Store a fresh result (a result that came from the cache is not stored again)."""
        if self._db is None or result.meta.cached:
            return
        meta = result.meta
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    meta.model,
                    f"{meta.prompt.name}@{meta.prompt.version}",
                    meta.article_sha256,
                    meta.usage.total_tokens,
                    result.model_dump_json(),
                ),
            )
        except sqlite3.Error as error:
            self._bypass(error)

    def stats(self) -> CacheStats:
        stats = CacheStats(path=self.path or Path())
        if self.path is not None:
            stats.size_bytes = sum(
                p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()
            )
        if self._db is None:
            return stats
        try:
            entries, tokens, oldest, newest = self._db.execute(
                "SELECT count(*), coalesce(sum(total_tokens), 0), min(created_at), "
                "max(created_at) FROM results"
            ).fetchone()
            models = self._db.execute(
                "SELECT model, count(*) FROM results GROUP BY model ORDER BY count(*) DESC"
            ).fetchall()
        except sqlite3.Error as error:
            self._bypass(error)
            return stats
        stats.entries, stats.tokens, stats.oldest, stats.newest = entries, tokens, oldest, newest
        stats.models = {str(model): int(count) for model, count in models}
        return stats

    def clear(self) -> int:
        """Delete every entry; return how many there were."""
        if self._db is None:
            return 0
        try:
            (count,) = self._db.execute("SELECT count(*) FROM results").fetchone()
            self._db.execute("DELETE FROM results")
            self._db.execute("VACUUM")
        except sqlite3.Error as error:
            self._bypass(error)
            return 0
        return int(count)

    def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):  # closing a broken file
                db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def remove_cache_files(path: Path) -> list[Path]:
    """Delete the cache file and its WAL companions (for a file too broken to clear)."""
    removed = []
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue
        removed.append(candidate)
    return removed
