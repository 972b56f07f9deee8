"""One article in, one verified summary out: ``summarize`` and its async twin.

The steps: check the article, render the prompt, ask the model (instructor
re-asks while the answer breaks the schema or is not grounded), then apply
``on_ungrounded`` to whatever the last answer still could not ground, and
record how it all went in ``meta``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from summarizer.article import Article
from summarizer.cache import ResultCache, cache_key
from summarizer.errors import LocalModelError, OutputTruncatedError, ValidationFailedError
from summarizer.longform import Plan, plan_chunks
from summarizer.prompts import Prompt, load_prompt
from summarizer.schema import (
    ArticleSummary,
    Attempt,
    Cleaning,
    GroundingPolicy,
    Meta,
    PromptInfo,
    RemovedText,
    SourceInfo,
    Span,
    SummaryResult,
    Usage,
    grounding_source,
)
from summarizer.settings import Settings, load_settings

if TYPE_CHECKING:
    from summarizer.llm import LLM, AsyncLLM

__all__ = ["asummarize", "endpoint", "summarize"]

log = logging.getLogger("summarizer")


@functools.cache
def _version() -> str:
    """This package's version; looked up once (about 1 ms each time, on every result)."""
    try:
        return version("summarizer")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


@dataclass
class _Job:
    """Everything decided before the model is called; no I/O to the model here."""

    settings: Settings
    article: Article
    prompt: Prompt
    messages: list[dict[str, str]]
    policy: GroundingPolicy
    started: float
    key: str
    """The result cache's key, computed before any server is started."""
    title: str | None = None
    plan: Plan | None = None
    """Set when the article is longer than the context: chunks, then a merge (longform.py)."""

    @classmethod
    def prepare(
        cls,
        text: str | Article,
        settings: Settings,
        title: str | None,
        prompt: Prompt | None = None,
    ) -> _Job:
        """``prompt``: one already loaded from ``settings`` (a batch loads it once)."""
        started = time.monotonic()
        article = (
            text
            if isinstance(text, Article)
            else Article.from_text(text, title=title, max_bytes=settings.max_input_bytes)
        )
        if settings.clean:
            article = article.cleaned()
        prompt = prompt or load_prompt(
            settings.prompt, settings.prompt_version, prompts_dir=settings.prompts_dir
        )
        title = title or article.title
        messages = prompt.render(article=article.text, title=title)
        key = cache_key(article, prompt, title, settings)
        plan = plan_chunks(article, prompt, title, settings)
        key = _input_key(key, article, plan)
        policy = GroundingPolicy(article.text)
        return cls(settings, article, prompt, messages, policy, started, key, title, plan)

    def run(self, llm: LLM) -> SummaryResult:
        """Ask the model through ``llm`` (already pointed at a live endpoint)."""
        if self.plan is not None:
            from summarizer.longform import run_chunked

            return run_chunked(self, llm)
        try:
            with grounding_source(self.policy):
                extraction = llm.extract(ArticleSummary, self.messages)
        except (ValidationFailedError, OutputTruncatedError) as error:
            return self.salvage(error)
        return self.finish(extraction.value, extraction.attempts)

    async def arun(self, llm: AsyncLLM) -> SummaryResult:
        """The asyncio twin of :meth:`run`; one ``llm`` may serve many jobs at once."""
        if self.plan is not None:
            from summarizer.longform import arun_chunked

            return await arun_chunked(self, llm)
        try:
            with grounding_source(self.policy):  # a context variable: each task has its own
                extraction = await llm.extract(ArticleSummary, self.messages)
        except (ValidationFailedError, OutputTruncatedError) as error:
            return self.salvage(error)
        return self.finish(extraction.value, extraction.attempts)

    def salvage(self, error: ValidationFailedError | OutputTruncatedError) -> SummaryResult:
        """Attempts ran out: with on_ungrounded=drop, keep the best schema-valid answer.

        Best means fewest ungrounded items, earliest on a tie: a re-ask can make a
        small model's answer worse, and a good first answer should not be lost.
        """
        if self.settings.on_ungrounded != "drop" or not self.policy.rejected:
            raise error
        best = min(range(len(self.policy.rejected)), key=lambda i: len(self.policy.rejected[i][1]))
        summary, missing = self.policy.rejected[best]
        answers = len(self.policy.rejected)
        note = (
            f"no answer was fully grounded after {len(error.attempts)} call(s); kept the best of "
            f"{answers} schema-valid answer(s), which had {len(missing)} ungrounded item(s)"
        )
        return self.finish(summary, error.attempts, [note])

    def finish(
        self, summary: ArticleSummary, attempts: list[Attempt], notes: list[str] | None = None
    ) -> SummaryResult:
        usage = Usage.total([a.usage for a in attempts])
        warnings: list[str] = list(notes or [])
        if not self.prompt.locked:
            warnings.append(f"prompt {self.prompt.ref} is a draft: it is not in prompts.lock")
        missing = summary.ground(self.policy.index)
        if missing:
            if self.settings.on_ungrounded == "fail":
                raise ValidationFailedError(
                    f"{len(missing)} item(s) not found in the article",
                    article_id=self.article.source,
                    attempts=attempts,
                    usage=usage,
                )
            warnings.extend(summary.drop_ungrounded(missing))
            if not summary.key_facts:
                raise ValidationFailedError(
                    "no key fact could be grounded in the article",
                    article_id=self.article.source,
                    attempts=attempts,
                    usage=usage,
                )
        for warning in warnings:
            log.warning("%s: %s", self.article.source, warning)
        _spans_to_input(summary, self.article)
        given = (
            self.article.input_text if self.article.input_text is not None else self.article.text
        )
        meta = Meta(
            model=self.settings.resolved_model,
            endpoint=self.settings.endpoint_host,
            mode=self.settings.mode,
            prompt=PromptInfo(
                name=self.prompt.name, version=self.prompt.version, sha256=self.prompt.sha256
            ),
            attempts=attempts,
            usage=usage,
            cost_usd=usage.cost_usd(self.settings.price(self.settings.resolved_model)),
            latency_s=round(time.monotonic() - self.started, 3),
            article_sha256=hashlib.sha256(given.encode("utf-8")).hexdigest(),
            article_chars=len(given),
            summarizer_version=_version(),
            created_at=datetime.now(UTC),
            grounding=self.policy.checks,
            warnings=warnings,
            calls=len(attempts),
            **_input_meta(self.article),
        )
        return SummaryResult(summary=summary, meta=meta)


def _spans_to_input(summary: ArticleSummary, article: Article) -> None:
    """Move every span from the cleaned text, where it was grounded, to the text given.

    A user holds the article they passed, not our cleaned copy, so offsets point
    there: ``given[span.start:span.end] == quote.text``. Cleaning removes whole
    lines; a span that straddles one becomes fragments around it.
    """
    if not article.removed:
        return

    def move(span: Span | None) -> Span | None:
        if span is None:
            return None
        pieces: list[list[int]] = []
        for start, end in span.fragments or [(span.start, span.end)]:
            for offset in range(start, end):
                at = article.to_input(offset)
                if pieces and pieces[-1][1] == at:
                    pieces[-1][1] = at + 1
                else:
                    pieces.append([at, at + 1])
        if not pieces:
            return span
        fragments = [(a, b) for a, b in pieces] if len(pieces) > 1 else None
        return Span(start=pieces[0][0], end=pieces[-1][1], fragments=fragments)

    for fact in summary.key_facts:
        fact.evidence_spans = [move(span) for span in fact.evidence_spans]
    for quote in summary.source_quotes:
        quote.span = move(quote.span)


def _input_meta(article: Article) -> dict[str, Any]:
    """``meta.cleaning`` and ``meta.source``: how the text the model saw came to be."""
    extra: dict[str, Any] = {}
    if article.input_text is not None and article.removed:
        extra["cleaning"] = Cleaning(
            text_sha256=article.sha256,
            text_chars=len(article.text),
            removed=[RemovedText(**dataclasses.asdict(r)) for r in article.removed],
        )
    if article.kind != "text":
        extra["source"] = SourceInfo(
            kind=article.kind,
            url=article.url,
            title=article.title,
            author=article.author,
            date=article.date,
        )
    return extra


def _input_key(key: str, article: Article, plan: Plan | None) -> str:
    """The cache key, extended by what ``cache_key`` does not see: the input before
    cleaning, where it came from, and how a long article is split and merged."""
    extra: dict[str, Any] = {}
    meta = _input_meta(article)
    if article.input_text is not None and article.removed:
        extra["input_sha256"] = hashlib.sha256(article.input_text.encode("utf-8")).hexdigest()
    if "source" in meta:
        extra["source"] = meta["source"].model_dump()
    if plan is not None:
        extra["chunks"] = [[c.start, c.end] for c in plan.chunks]
        extra["merge"] = [plan.merge_prompt.ref, plan.merge_prompt.sha256, plan.context_tokens]
    if not extra:
        return key
    canonical = json.dumps(extra, sort_keys=True, separators=(",", ":"))
    return f"{key}+{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:32]}"


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
    update: dict[str, Any] = {"model": alias}
    for name, floor in _LOCAL_TIMEOUTS.items():
        if name not in settings.model_fields_set:
            update[name] = max(getattr(settings, name), floor)
    with local.LocalServer(gguf, alias, startup_timeout=settings.startup_timeout) as server:
        yield settings.model_copy(update={**update, "base_url": server.base_url})


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    if settings is None:
        return load_settings(**overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    return load_settings(**{**settings.model_dump(), **given}) if given else settings


def summarize(
    text: str | Article,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    prompt: str | None = None,
    prompt_version: int | None = None,
    max_attempts: int | None = None,
    on_ungrounded: str | None = None,
    title: str | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> SummaryResult:
    """Summarize one article; every quote and evidence span comes back with offsets.

    Example::

        result = summarize(text, base_url="http://127.0.0.1:8080/v1")
        for quote in result.summary.source_quotes:
            assert text[quote.span.start : quote.span.end] == quote.text

    Offsets point into ``text`` as given, though the model saw it with scraped
    boilerplate removed (``clean``; ``meta.cleaning`` lists each removal).

    Arguments left as ``None`` come from ``SUMMARIZER_*``/``OPENAI_*`` environment
    variables, then defaults; ``options`` are any other :class:`Settings` field.
    """
    resolved = _settings(
        settings,
        dict(
            model=model,
            base_url=base_url,
            api_key=api_key,
            prompt=prompt,
            prompt_version=prompt_version,
            max_attempts=max_attempts,
            on_ungrounded=on_ungrounded,
            **options,
        ),
    )
    job = _Job.prepare(text, resolved, title)
    with ResultCache.for_settings(resolved) as cache:
        cached = cache.get(job.key)
        if cached is not None:
            return cached
        from summarizer.llm import LLM  # only now: a cache hit does not import openai

        with endpoint(resolved) as live:
            job.settings = live
            llm = LLM(live)
            try:
                result = job.run(llm)
            finally:
                llm.close()
        cache.put(job.key, result)
    return result


async def asummarize(
    text: str | Article,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    prompt: str | None = None,
    prompt_version: int | None = None,
    max_attempts: int | None = None,
    on_ungrounded: str | None = None,
    title: str | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> SummaryResult:
    """The asyncio twin of :func:`summarize`, with the same arguments."""
    resolved = _settings(
        settings,
        dict(
            model=model,
            base_url=base_url,
            api_key=api_key,
            prompt=prompt,
            prompt_version=prompt_version,
            max_attempts=max_attempts,
            on_ungrounded=on_ungrounded,
            **options,
        ),
    )
    job = _Job.prepare(text, resolved, title)
    with ResultCache.for_settings(resolved) as cache:
        cached = cache.get(job.key)
        if cached is not None:
            return cached
        from summarizer.llm import AsyncLLM  # only now: a cache hit does not import openai

        with endpoint(resolved) as live:
            job.settings = live
            llm = AsyncLLM(live)
            try:
                result = await job.arun(llm)
            finally:
                await llm.close()
        cache.put(job.key, result)
    return result
