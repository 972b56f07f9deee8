"""Many articles: bounded concurrency, results as they finish, a resumable JSONL file.

    from summarizer import summarize_many
    from summarizer.batch import discover

    for done in summarize_many(discover(["examples/"]), out="results.jsonl", concurrency=16):
        print(done.id, "ok" if done.ok else done.error)

Underneath it is asyncio: one ``AsyncLLM`` client (AsyncOpenAI + instructor) and one
endpoint serve every article, so the embedded local model is started once, and
only when the first article is not in the result cache. Each article goes
through the same steps as :func:`summarizer.summarize` (a ``job.Job``, driven by
``pipeline.arun``).

The output file holds one JSON line per finished article,
``{"id", "source", "ok", "result" | "error"}``, each appended with a single
``write`` and fsynced before the next. A rerun with the same file skips the ids
that have a result; a last line cut short by a kill is dropped and its article
done again, so after a kill at any moment a rerun ends with every article
exactly once. Failed articles are retried on a rerun (their old lines removed)
unless ``retry_failed=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from summarizer.article import Article, load_article
from summarizer.cache import ResultCache
from summarizer.errors import ConfigError, InputError, SummarizerError
from summarizer.fetch import is_url
from summarizer.files import write_atomic
from summarizer.job import Job
from summarizer.pipeline import aendpoint, arun, resolve_settings
from summarizer.prompts import Prompt, load_prompt
from summarizer.schema import SummaryResult, Usage
from summarizer.settings import Settings
from summarizer.sources import load_source

if TYPE_CHECKING:
    from summarizer.llm import AsyncLLM

__all__ = [
    "ARTICLE_SUFFIXES",
    "BatchItem",
    "BatchResult",
    "BatchTally",
    "ResultsFile",
    "asummarize_many",
    "discover",
    "summarize_many",
]

log = logging.getLogger("summarizer")

ARTICLE_SUFFIXES = (".txt", ".md", ".html", ".htm")
"""What a directory given as input contributes: its text and HTML files (not subfolders)."""


@dataclass(frozen=True)
class BatchItem:
    """One article of a batch, named by a unique ``id``.

    Either ``text`` is given, or ``path`` is read when the article's turn comes
    (so a thousand files are not all in memory, and an unreadable one fails alone).
    """

    id: str
    text: str | None = None
    path: Path | None = None
    title: str | None = None
    source: str = ""
    """Where it came from, for people: a path, or ``file.jsonl:LINE``."""
    problem: str | None = None
    """Why it cannot be used, found while reading the list (a bad JSONL line)."""
    url: str | None = None
    """An http(s) URL, fetched when the article's turn comes."""

    def __post_init__(self) -> None:
        if not self.source:
            named = str(self.path) if self.path else self.url or self.id
            object.__setattr__(self, "source", named)

    def load(self, max_bytes: int, settings: Settings | None = None) -> Article:
        """The article, checked as :func:`summarizer.summarize` checks it; InputError if not.

        With ``settings``, a path or URL is read as ``summarizer summarize`` reads it
        (HTML extracted, URLs fetched; :func:`summarizer.sources.load_source`).
        """
        named = self.url or (str(self.path) if self.path is not None else None)
        if settings is not None and named and self.problem is None and self.text is None:
            article = load_source(named, settings)
            if self.title is not None:
                article = dataclasses.replace(article, title=self.title)
            return article
        if self.problem is not None:
            raise InputError(f"{self.source}: {self.problem}", article_id=self.id)
        if self.text is not None:
            return Article.from_text(
                self.text, source=self.source, title=self.title, max_bytes=max_bytes
            )
        if self.path is None:
            raise InputError(f"{self.source}: neither text nor a path", article_id=self.id)
        article = load_article(str(self.path), max_bytes=max_bytes)
        return article if self.title is None else dataclasses.replace(article, title=self.title)


def discover(paths: Iterable[str | Path]) -> list[BatchItem]:
    """The articles named by ``paths``: files, directories, .jsonl files, http(s) URLs.

    A file's id is its path as given (normalised), a URL's the URL; a directory
    contributes its ``.txt``, ``.md``, ``.html`` and ``.htm`` files, sorted, hidden ones
    left out (HTML is extracted as ``summarizer summarize`` does); each line of a
    ``.jsonl`` file is ``{"id": ..., "text": ..., "title": ...}`` (``id`` defaults to
    ``FILE:LINE``, ``title`` is optional; a ``README`` file is not an article). A line
    that cannot be used becomes an
    item that fails alone. The same file named twice counts once; two different
    articles with one id are a :class:`ConfigError`, since resuming goes by id.
    """
    items: list[BatchItem] = []
    for given in paths:
        if is_url(str(given)):
            items.append(BatchItem(id=str(given), url=str(given)))
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in ARTICLE_SUFFIXES
                and not p.name.startswith(".")
                and p.stem.upper() != "README"  # a folder's notes, not one of its articles
                and p.is_file()
            )
            if not files:
                raise InputError(f"{given}: no .txt, .md or .html files in this directory")
            items.extend(BatchItem(id=os.path.normpath(p), path=p) for p in files)
        elif path.suffix.lower() == ".jsonl":
            items.extend(_read_jsonl(path))
        else:
            items.append(BatchItem(id=os.path.normpath(path), path=path))
    return _unique(items)


def _read_jsonl(path: Path) -> Iterator[BatchItem]:
    try:
        handle = path.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BatchItem(id=where, problem=f"not a JSON line ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield BatchItem(id=where, problem='not a JSON object {"id", "text"}')
                continue
            given = record.get("id")
            if isinstance(given, bool) or not isinstance(given, str | int | type(None)):
                yield BatchItem(id=where, problem='"id" must be a string or a number')
                continue
            item_id = where if given is None else str(given)
            text, title = record.get("text"), record.get("title")
            if not isinstance(text, str):
                yield BatchItem(id=item_id, source=where, problem='no "text" string')
            elif title is not None and not isinstance(title, str):
                yield BatchItem(id=item_id, source=where, problem='"title" must be a string')
            else:
                yield BatchItem(id=item_id, text=text, title=title, source=where)


def _unique(items: Iterable[BatchItem]) -> list[BatchItem]:
    """Drop a file named twice; refuse two different articles under one id."""
    seen: dict[str, BatchItem] = {}
    unique: list[BatchItem] = []
    for item in items:
        first = seen.get(item.id)
        if first is None:
            seen[item.id] = item
            unique.append(item)
        elif first.path is None or item.path is None or first.path.resolve() != item.path.resolve():
            raise ConfigError(
                f"duplicate id {item.id!r} ({first.source} and {item.source}): ids must be "
                "unique, a rerun uses them to tell what is done"
            )
    return unique


def _as_item(value: BatchItem | Article | Path | str | tuple[str, str], number: int) -> BatchItem:
    if isinstance(value, BatchItem):
        return value
    if isinstance(value, Article):
        named = value.source if value.source != "<text>" else f"#{number}"
        return BatchItem(id=named, text=value.text, title=value.title, source=value.source)
    if isinstance(value, Path):
        return BatchItem(id=os.path.normpath(value), path=value)
    if isinstance(value, str):
        return BatchItem(id=f"#{number}", text=value)
    if isinstance(value, tuple) and len(value) == 2:
        return BatchItem(id=str(value[0]), text=value[1])
    raise ConfigError(
        f"item {number}: expected a BatchItem, Article, Path, text or (id, text), "
        f"got {type(value).__name__}"
    )


@dataclass
class BatchResult:
    """One finished article: a result or an error, tied to the input's id."""

    id: str
    source: str
    result: SummaryResult | None = None
    error: SummarizerError | None = None
    cost_usd: float | None = None
    """What this run paid for the article: 0 for a cached result, None if unknown."""

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def cached(self) -> bool:
        return self.result is not None and self.result.meta.cached

    @property
    def calls(self) -> int:
        """HTTP calls this run made for the article."""
        if self.result is not None:
            return 0 if self.result.meta.cached else len(self.result.meta.attempts)
        return len(self.error.attempts) if self.error is not None else 0

    @property
    def spent(self) -> Usage:
        """Tokens this run spent on the article, failed attempts included; unknown stays None."""
        if self.result is not None:
            return Usage.zero() if self.result.meta.cached else self.result.meta.usage
        attempts = self.error.attempts if self.error is not None else []
        return Usage.total([a.usage for a in attempts])

    def to_json(self) -> str:
        """The output line, without its newline."""
        line: dict[str, Any] = {"id": self.id, "source": self.source, "ok": self.ok}
        if self.result is not None:
            line["result"] = self.result.model_dump(mode="json")
        elif self.error is not None:
            line["error"] = {
                "type": type(self.error).__name__,
                "message": str(self.error),
                "exit_code": self.error.exit_code,
                "attempts": [a.model_dump(mode="json") for a in self.error.attempts],
                "usage": self.spent.model_dump(),
                "cost_usd": self.cost_usd,
            }
        return json.dumps(line, ensure_ascii=False)


@dataclass
class BatchTally:
    """Running totals of a batch, updated as each article finishes."""

    total: int = 0
    """Articles in the input."""
    skipped: int = 0
    """Already done in the output file: not started again."""
    ok: int = 0
    failed: int = 0
    cached: int = 0
    """Of ``ok``: served from the result cache, no call made."""
    not_started: int = 0
    """Left undone because the token budget was spent."""
    calls: int = 0
    usage: Usage = field(default_factory=Usage.zero)
    """Tokens this run spent, failed attempts included; a field is None if any call's was."""
    tokens: int = 0
    """Tokens this run spent that the endpoint reported: what the budget counts."""
    cost_usd: float | None = 0.0
    """Estimated cost of this run; None once any article's cost is unknown."""
    budget_tokens: int | None = None
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def todo(self) -> int:
        """Articles this run is to do: the input minus what the output file already has."""
        return self.total - self.skipped

    @property
    def budget_spent(self) -> bool:
        return self.budget_tokens is not None and self.tokens >= self.budget_tokens

    def add(self, outcome: BatchResult) -> None:
        if outcome.ok:
            self.ok += 1
            self.cached += outcome.cached
        else:
            self.failed += 1
        self.calls += outcome.calls
        spent = outcome.spent
        self.usage = self.usage + spent
        self.tokens += spent.total_tokens or 0
        if self.cost_usd is not None and outcome.cost_usd is not None:
            self.cost_usd = round(self.cost_usd + outcome.cost_usd, 8)
        else:
            self.cost_usd = None
        self.elapsed_s = time.monotonic() - self.started

    def summary(self) -> str:
        """One line for a person: what was done, what it cost, how long it took."""

        def n(value: int | None) -> str:
            return "unknown" if value is None else f"{value:,}"

        parts = [
            f"{self.total:,} article(s): {self.ok:,} ok ({self.cached:,} from the cache), "
            f"{self.failed:,} failed, {self.skipped:,} already done"
        ]
        if self.not_started:
            parts.append(
                f"token budget of {n(self.budget_tokens)} spent: {self.not_started:,} not "
                "started (run again to continue)"
            )
        usage = self.usage
        parts.append(
            f"{n(usage.total_tokens)} tokens ({n(usage.prompt_tokens)} prompt + "
            f"{n(usage.completion_tokens)} completion) in {self.calls:,} call(s)"
        )
        parts.append("cost unknown" if self.cost_usd is None else f"about ${self.cost_usd:.4f}")
        parts.append(f"{self.elapsed_s:.1f} s")
        return "; ".join(parts)


class ResultsFile:
    """The batch's JSONL output: read what is done, then append one line per article.

    Opening takes an exclusive lock (two runs cannot write one file), keeps the
    lines with a result (and failures too unless ``retry_failed``), drops a last
    line cut short by a kill, and, if it dropped anything, writes the rest to a
    temporary file that replaces the old one, so the file is valid at every moment.
    """

    def __init__(self, path: str | Path, *, retry_failed: bool = True) -> None:
        self.path = Path(path)
        self.retry_failed = retry_failed
        self.done: set[str] = set()
        self.dropped = 0
        """Lines removed on opening: failures to retry, a torn last line, repeats."""
        self._fd: int | None = None

    def __enter__(self) -> ResultsFile:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> set[str]:
        """Lock and read the file; return the ids that are done."""
        fd = self._open_locked()
        try:
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read()
            kept = self._keep(data)
            if self.dropped:
                self._replace(b"".join(kept))
                os.close(fd)
                fd = self._open_locked()
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self.done

    def _open_locked(self) -> int:
        """Open for appending and lock; retry if the file was replaced meanwhile."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as exc:
                raise ConfigError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            try:
                _lock(fd, self.path)
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # replaced by another run between open and lock: open the new one

    def _keep(self, data: bytes) -> list[bytes]:
        *lines, tail = data.split(b"\n")
        if tail:  # no newline: a write cut short by a kill, never a whole result
            log.info("%s: dropped an incomplete last line", self.path)
            self.dropped += 1
        kept: list[bytes] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            record = _parse_line(raw)
            if record is None:
                raise ConfigError(
                    f"{self.path}, line {number}: not a result line of `summarizer batch`; "
                    "give another --out"
                )
            item_id, ok = record
            if item_id in self.done or (not ok and self.retry_failed):
                self.dropped += 1
                continue
            self.done.add(item_id)
            kept.append(raw + b"\n")
        return kept

    def _replace(self, data: bytes) -> None:
        write_atomic(self.path, data)  # keeps the file's mode (mkstemp alone would make 0600)

    def write(self, outcome: BatchResult) -> None:
        """Append one line with a single write, then fsync: a kill leaves whole lines."""
        os.fsync(self.append(outcome))

    async def awrite(self, outcome: BatchResult) -> None:
        """:meth:`write` with the fsync (milliseconds) off the event loop."""
        fd = self.append(outcome)
        await asyncio.to_thread(os.fsync, fd)

    def append(self, outcome: BatchResult) -> int:
        """Append the line (not yet fsynced); return the file descriptor."""
        if self._fd is None:
            raise RuntimeError("ResultsFile.write before open")
        data = memoryview((outcome.to_json() + "\n").encode("utf-8"))
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        self.done.add(outcome.id)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # releases the lock


def _parse_line(raw: bytes) -> tuple[str, bool] | None:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("id"), str)
        or not isinstance(record.get("ok"), bool)
    ):
        return None
    return record["id"], record["ok"]


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, one run per file is on you
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(f"{path}: another `summarizer batch` is writing this file") from None


class _Runner:
    """One article at a time, any number at once: one cache, one endpoint, one client."""

    def __init__(self, settings: Settings, cache: ResultCache, prompt: Prompt) -> None:
        self.settings = settings
        self.cache = cache
        self.prompt = prompt
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self._client: tuple[AsyncLLM, Settings] | None = None

    async def client(self) -> tuple[AsyncLLM, Settings]:
        """The client and live settings, made on first need: all cached, no server started."""
        async with self._lock:
            if self._client is None:
                from summarizer.llm import AsyncLLM

                live = await self._stack.enter_async_context(aendpoint(self.settings))
                self._client = (AsyncLLM(live), live)
            return self._client

    def _prepare(self, item: BatchItem) -> Job:
        """Read (a URL fetched, HTML extracted), clean and find: in a worker thread."""
        article = item.load(self.settings.max_input_bytes, self.settings)
        return Job.prepare(article, self.settings, item.title, self.prompt)

    async def one(self, item: BatchItem) -> BatchResult:
        """Never raises for one article's trouble; only a dead endpoint stops the batch."""
        try:
            job = await asyncio.to_thread(self._prepare, item)
        except SummarizerError as error:
            return BatchResult(item.id, item.source, error=error, cost_usd=0.0)
        cached = self.cache.get(job.key)
        if cached is not None:
            return BatchResult(item.id, item.source, result=cached, cost_usd=0.0)
        llm, live = await self.client()
        job.settings = live
        try:
            result = await arun(job, llm)
        except SummarizerError as error:
            error.article_id = error.article_id or item.id
            outcome = BatchResult(item.id, item.source, error=error)
            outcome.cost_usd = outcome.spent.cost_usd(live.price(live.resolved_model))
            return outcome
        except Exception as error:  # a bug with one article must not sink the others
            log.debug("%s: unexpected error", item.source, exc_info=True)
            wrapped = SummarizerError(
                f"internal error: {type(error).__name__}: {error}", article_id=item.id
            )
            return BatchResult(item.id, item.source, error=wrapped)
        self.cache.put(job.key, result)
        return BatchResult(item.id, item.source, result=result, cost_usd=result.meta.cost_usd)

    async def aclose(self) -> None:
        try:
            if self._client is not None:
                await self._client[0].close()
        finally:
            self._client = None
            await self._stack.aclose()  # stops a local server


Item = BatchItem | Article | Path | str | tuple[str, str]


async def asummarize_many(
    items: Iterable[Item],
    *,
    concurrency: int = 8,
    out: str | Path | None = None,
    budget_tokens: int | None = None,
    retry_failed: bool = True,
    tally: BatchTally | None = None,
    on_progress: Callable[[BatchTally], None] | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> AsyncGenerator[BatchResult, None]:
    """Summarize many articles, ``concurrency`` at a time; yield each as it finishes.

    Example::

        async with contextlib.aclosing(asummarize_many(items, out="r.jsonl")) as results:
            async for done in results:
                print(done.id, done.ok)

    Args:
        items: :class:`BatchItem` objects (see :func:`discover`), :class:`Article`
            objects, ``Path`` objects (read when their turn comes), ``(id, text)``
            pairs, or texts (ids ``#1``, ``#2``, ...). Ids must be unique.
        concurrency: articles in flight at once.
        out: a JSONL file to append each result to and to resume from: ids that
            already have a line there are skipped (see :class:`ResultsFile`).
        budget_tokens: stop starting new articles once this run has spent this many
            tokens; articles in flight finish. What was not started is counted in
            ``tally.not_started`` and done by a rerun.
        retry_failed: on resume, do failed articles again (default) or keep their lines.
        tally: a :class:`BatchTally` to keep the running totals in.
        on_progress: called with the tally once the work is known, then after each article.
        settings, options: as for :func:`summarizer.summarize`.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, not {concurrency}")
    if budget_tokens is not None and budget_tokens < 0:
        raise ConfigError(f"budget_tokens must not be negative, not {budget_tokens}")
    resolved = resolve_settings(settings, options)
    prompt = load_prompt(  # once, and before anything else: a bad prompt fails every article
        resolved.prompt, resolved.prompt_version, prompts_dir=resolved.prompts_dir
    )
    batch = _unique(_as_item(value, number) for number, value in enumerate(items, start=1))
    tally = tally if tally is not None else BatchTally()
    tally.total, tally.budget_tokens = len(batch), budget_tokens
    running: set[asyncio.Task[BatchResult]] = set()
    with contextlib.ExitStack() as stack:
        writer = None
        if out is not None:
            writer = stack.enter_context(ResultsFile(out, retry_failed=retry_failed))
        done = writer.done if writer is not None else set()
        pending = deque(item for item in batch if item.id not in done)
        tally.skipped = len(batch) - len(pending)
        cache = stack.enter_context(ResultCache.for_settings(resolved))
        runner = _Runner(resolved, cache, prompt)
        if on_progress is not None:
            on_progress(tally)
        try:
            while pending or running:
                while pending and len(running) < concurrency and not tally.budget_spent:
                    running.add(asyncio.create_task(runner.one(pending.popleft())))
                if not running:
                    break
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                fatal: BaseException | None = None
                for task in finished:
                    if task.exception() is not None:
                        fatal = fatal or task.exception()
                        continue
                    outcome = task.result()
                    tally.add(outcome)
                    if writer is not None:  # the line is written before the first await
                        await writer.awrite(outcome)
                    if on_progress is not None:
                        on_progress(tally)
                    yield outcome
                if fatal is not None:
                    raise fatal
            tally.not_started = len(pending)
            if pending:
                log.warning(
                    "token budget of %s spent (%s used): %d article(s) not started",
                    f"{budget_tokens:,}",
                    f"{tally.tokens:,}",
                    len(pending),
                )
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await runner.aclose()
            tally.elapsed_s = time.monotonic() - tally.started


def summarize_many(items: Iterable[Item], **kwargs: Any) -> Iterator[BatchResult]:
    """Summarize many articles at once; yield each result as it finishes, tied to its id.

    Example::

        for done in summarize_many(discover(["articles/"]), out="r.jsonl", concurrency=16):
            print(done.id, done.result.summary.headline if done.ok else done.error)

    The same arguments as :func:`asummarize_many`, which this runs in an event
    loop of its own (so it cannot be called from inside a running loop: use
    ``asummarize_many`` there). Leaving the loop early stops the articles in flight.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running: the usual case
        pass
    else:
        raise ConfigError(
            "summarize_many() runs its own event loop; inside one, use asummarize_many()"
        )
    results = asummarize_many(items, **kwargs)

    async def step() -> BatchResult:
        return await anext(results)

    with asyncio.Runner() as runner:
        try:
            while True:
                try:
                    outcome = runner.run(step())
                except StopAsyncIteration:
                    return
                yield outcome
        finally:
            # Stopped early: close the generator, which cancels what is in flight. After
            # Ctrl-C it is closed already; after an error raised in the loop it is still
            # running, and closing the runner cancels it.
            with contextlib.suppress(RuntimeError):
                runner.run(results.aclose())
