"""One article in, one verified summary out: ``summarize`` and its async twin.

The steps themselves are a :class:`~summarizer.job.Job`, which does no I/O;
this module drives them. :func:`run` sends what the job asks for with the sync
client (a long article's parts in ``chunk_concurrency`` threads), :func:`arun`
with the async one; the cache and the endpoint (a local model started for the
block, if none is given) are set up around them here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Unpack

from summarizer import live
from summarizer.article import Article
from summarizer.cache import ResultCache
from summarizer.checks import checking
from summarizer.errors import LocalModelError, OutputTruncatedError, ValidationFailedError
from summarizer.job import Ask, Job, Reply
from summarizer.schema import SummaryResult
from summarizer.settings import Settings, SettingsOptions, load_settings

if TYPE_CHECKING:
    from summarizer.llm import LLM, AsyncLLM

log = logging.getLogger("summarizer")

__all__ = ["aendpoint", "arun", "asummarize", "endpoint", "resolve_settings", "run", "summarize"]


def run(job: Job, llm: LLM) -> SummaryResult:
    """Drive ``job`` with a sync client already pointed at a live endpoint."""
    flow = job.flow()
    asks = next(flow)
    while True:
        if len(asks) == 1:
            replies = [_send(llm, asks[0])]
        else:  # the parts' threads see no watcher: several answers do not stream to one view
            live.stage(f"asking for {len(asks)} parts at once")
            with ThreadPoolExecutor(max_workers=job.settings.chunk_concurrency) as pool:
                replies = list(pool.map(lambda ask: _send(llm, ask), asks))
        try:
            asks = flow.send(replies)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def arun(job: Job, llm: AsyncLLM) -> SummaryResult:
    """The asyncio twin of :func:`run`; one ``llm`` may serve many jobs at once."""
    flow = job.flow()
    asks = next(flow)
    gate = asyncio.Semaphore(job.settings.chunk_concurrency)

    async def one(ask: Ask) -> Reply:
        with live.watching(None):  # as in run: several answers do not stream to one view
            async with gate:
                return await _asend(llm, ask)

    while True:
        if len(asks) == 1:
            replies = [await _asend(llm, asks[0])]
        else:
            live.stage(f"asking for {len(asks)} parts at once")
            try:
                async with asyncio.TaskGroup() as group:  # one failure cancels the others
                    tasks = [group.create_task(one(ask)) for ask in asks]
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None
            replies = [task.result() for task in tasks]
        try:
            asks = flow.send(replies)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _send(llm: LLM, ask: Ask) -> Reply:
    with checking(ask.policy):  # a context variable: each thread and task has its own
        try:
            extraction = llm.extract(ask.response_model, ask.messages)
        except (ValidationFailedError, OutputTruncatedError) as error:
            return Reply(error.attempts, error)
    return Reply(extraction.attempts)


async def _asend(llm: AsyncLLM, ask: Ask) -> Reply:
    with checking(ask.policy):
        try:
            extraction = await llm.extract(ask.response_model, ask.messages)
        except (ValidationFailedError, OutputTruncatedError) as error:
            return Reply(error.attempts, error)
    return Reply(extraction.attempts)


_LOCAL_TIMEOUTS = {"timeout": 900.0, "article_timeout": 2700.0}
"""Defaults for a CPU model, unless set explicitly. A request that times out is not
cancelled by llama.cpp's one-slot server: it keeps generating, and the retry queues
behind it and times out too (seen: two 180 s timeouts, then a 113 s answer, on a
loaded 2-core machine)."""


@contextlib.contextmanager
def endpoint(settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a live endpoint: as given, or a local model started for the block.

    One local server serves everything inside the block and is stopped when it
    ends, whether it ends well, with an error or with Ctrl-C.
    """
    if not settings.uses_local_model:
        yield settings
        return
    server, update = _local_server(settings)
    with server:
        yield settings.model_copy(update={**update, "base_url": server.base_url})


@contextlib.asynccontextmanager
async def aendpoint(settings: Settings) -> AsyncIterator[Settings]:
    """:func:`endpoint` for asyncio: the event loop runs on while the local model loads."""
    if not settings.uses_local_model:
        yield settings
        return
    server, update = _local_server(settings)
    async with server:
        yield settings.model_copy(update={**update, "base_url": server.base_url})


def _local_server(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The local server to start (not started yet) and the settings it changes."""
    from summarizer import local

    try:
        if settings.gguf is None:  # say "install the extra" before "fetch a model"
            local.require_server_extra()
        gguf, alias = local.resolve_gguf(settings.models_dir, settings.local_model, settings.gguf)
        local.require_server_extra()
    except LocalModelError as error:
        raise LocalModelError(
            f"{error}; or use another endpoint: --base-url URL, or OPENAI_API_KEY"
        ) from None
    log.info("starting the local model %s (%s)", alias, gguf)
    live.stage(f"starting the local model {alias}")
    update: dict[str, Any] = {"model": alias}
    for name, floor in _LOCAL_TIMEOUTS.items():
        if name not in settings.model_fields_set:
            update[name] = max(getattr(settings, name), floor)
    return local.LocalServer(gguf, alias, startup_timeout=settings.startup_timeout), update


def _show_sentences(job: Job) -> None:
    """A watcher of a cited answer sees the sentences its ids name."""
    watcher = live.current()
    if watcher is not None and job.prompt.answer == "cited":
        passages = job.passages
        watcher.numbered(
            {s.id: s.text for s in passages.sentences},
            {q.id: q.text for q in passages.quotations},
        )


def resolve_settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    """``settings`` (or the environment's) with every override that is not None."""
    if settings is None:
        return load_settings(**overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    return load_settings(**{**settings.model_dump(), **given}) if given else settings


def summarize(
    text: str | Article,
    *,
    title: str | None = None,
    settings: Settings | None = None,
    **options: Unpack[SettingsOptions],
) -> SummaryResult:
    """Summarize one article; every quote and evidence span comes back with offsets.

    Example::

        result = summarize(text, base_url="http://127.0.0.1:8080/v1")
        for quote in result.summary.source_quotes:
            assert text[quote.span.start : quote.span.end] == quote.text

    Offsets point into ``text`` as given, though the model saw it with scraped
    boilerplate removed (``clean``; ``meta.cleaning`` lists each removal).

    ``options`` are any :class:`Settings` field (``model``, ``base_url``, ``api_key``,
    ``prompt``, ``max_attempts``, ``on_ungrounded``...); those left out come from
    ``SUMMARIZER_*``/``OPENAI_*`` environment variables, then defaults.
    """
    resolved = resolve_settings(settings, dict(options))
    job = Job.prepare(text, resolved, title)
    _show_sentences(job)
    with ResultCache.for_settings(resolved) as cache:
        cached = cache.get(job.key)
        if cached is not None:
            live.stage("found in the result cache")
            return cached
        from summarizer.llm import LLM  # only now: a cache hit does not import openai

        with endpoint(resolved) as ready:
            job.settings = ready
            result = run(job, LLM(ready))
        cache.put(job.key, result)
    return result


async def asummarize(
    text: str | Article,
    *,
    title: str | None = None,
    settings: Settings | None = None,
    **options: Unpack[SettingsOptions],
) -> SummaryResult:
    """The asyncio twin of :func:`summarize`, with the same arguments."""
    resolved = resolve_settings(settings, dict(options))
    job = await asyncio.to_thread(Job.prepare, text, resolved, title)
    _show_sentences(job)
    with ResultCache.for_settings(resolved) as cache:
        cached = cache.get(job.key)
        if cached is not None:
            live.stage("found in the result cache")
            return cached
        from summarizer.llm import AsyncLLM

        async with aendpoint(resolved) as ready:
            job.settings = ready
            llm = AsyncLLM(ready)
            try:
                result = await arun(job, llm)
            finally:
                await llm.close()  # its connections belong to this event loop
        cache.put(job.key, result)
    return result
