"""One article's steps, from text to :class:`SummaryResult`, with no I/O of their own.

A :class:`Job` is made before any call (:meth:`Job.prepare`: clean, find the
passages, render the prompt, plan the chunks, key the cache). Its :meth:`Job.flow`
is a generator, in the manner of httpx's ``Auth.auth_flow``: it yields the
requests it needs (a list, to be sent at once: one for a short article, the
parts of a long one, then the merge), receives one :class:`Reply` per request,
and returns the result. The sync and async drivers in ``pipeline.py`` only send
what it yields, so both run exactly the same steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from summarizer.about import package_version
from summarizer.article import Article
from summarizer.cache import cache_key
from summarizer.checks import (
    Policy,
    VerbatimAnswer,
    check_meaning,
    cited_model,
    drop_problems,
)
from summarizer.errors import OutputTruncatedError, ValidationFailedError
from summarizer.grounding import SourceIndex
from summarizer.longform import (
    Part,
    Plan,
    assemble,
    in_article,
    merge_messages,
    no_part_error,
    plan_chunks,
)
from summarizer.passages import Passages, find_passages
from summarizer.prompts import Prompt, load_prompt
from summarizer.schema import (
    ArticleSummary,
    Attempt,
    Chunking,
    Cleaning,
    GroundingCheck,
    KeyFact,
    Meta,
    PromptInfo,
    RemovedText,
    SourceInfo,
    Span,
    SummaryResult,
    Usage,
)
from summarizer.settings import Settings
from summarizer.words import guess_language

__all__ = ["Ask", "Flow", "Job", "Reply"]

log = logging.getLogger("summarizer")

Failure = ValidationFailedError | OutputTruncatedError
"""What a request can end in and still leave something to use (with on_ungrounded=drop)."""


@dataclass
class Ask:
    """One structured-output request for a driver to send, checked against ``policy``."""

    messages: list[dict[str, str]]
    response_model: type[BaseModel]
    policy: Policy


@dataclass
class Reply:
    """What came of an :class:`Ask`: every call it took, and the error if it ended in one."""

    attempts: list[Attempt]
    error: Failure | None = None


Flow = Generator[list[Ask], list[Reply], SummaryResult]


@dataclass
class Job:
    """Everything decided before the model is called; see the module docstring."""

    settings: Settings
    article: Article
    prompt: Prompt
    passages: Passages
    messages: list[dict[str, str]]
    policy: Policy
    started: float
    key: str
    """The result cache's key, computed before any server is started."""
    title: str | None = None
    plan: Plan | None = None
    """Set when the article is longer than the context: chunks, then a merge."""

    @classmethod
    def prepare(
        cls,
        text: str | Article,
        settings: Settings,
        title: str | None = None,
        prompt: Prompt | None = None,
    ) -> Job:
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
        passages = find_passages(article.text, guess_language(article.text))
        shown = _shown(prompt, passages, 0, len(article.text))
        messages = prompt.render(article=shown, title=title, language=settings.language)
        sent = shown if prompt.answer == "cited" else None
        plan = plan_chunks(article, prompt, title, settings, sent=sent)
        key = _input_key(cache_key(article, prompt, title, settings), article, plan)
        policy = Policy(SourceIndex(article.text), passages)
        return cls(settings, article, prompt, passages, messages, policy, started, key, title, plan)

    def answer_model(self, start: int = 0, end: int | None = None) -> type[BaseModel]:
        """What the model answers for the text from ``start`` to ``end``."""
        if self.prompt.answer != "cited":
            return VerbatimAnswer
        end = len(self.article.text) if end is None else end
        sentences = tuple(s.id for s in self.passages.sentences if s.end > start and s.start < end)
        quotes = tuple(
            q.id for q in self.passages.quotations if not q.short and start <= q.start < end
        )
        return cited_model(sentences, quotes, statements=self.settings.language is not None)

    def flow(self) -> Flow:
        """The steps; yields requests, receives their replies, returns the result."""
        if self.plan is None:
            [reply] = yield [Ask(self.messages, self.answer_model(), self.policy)]
            summary, notes = self._settle(self.policy, reply)
            return self._result(summary, reply.attempts, notes, self.policy.checks)
        return (yield from self._long_flow(self.plan))

    def _long_flow(self, plan: Plan) -> Flow:
        parts: list[Part] = []
        asks: list[Ask] = []
        cited = self.prompt.answer == "cited"
        for number, chunk in enumerate(plan.chunks, start=1):
            text = self.article.text[chunk.start : chunk.end]
            shown = _shown(self.prompt, self.passages, chunk.start, chunk.end) if cited else text
            messages = self.prompt.render(
                article=shown, title=self.title, language=self.settings.language
            )
            # Cited parts cite the whole article's ids; copied ones are found in their own text.
            if cited:
                policy = self.policy_for_whole()
                policy.scope, policy.lead = (chunk.start, chunk.end), number == 1
            else:
                policy = Policy(SourceIndex(text), base=chunk.start)
            parts.append(Part(number, chunk))
            asks.append(Ask(messages, self.answer_model(chunk.start, chunk.end), policy))
        replies = yield asks
        for part, ask, reply in zip(parts, asks, replies, strict=True):
            part.attempts, part.checks = reply.attempts, ask.policy.checks
            try:
                summary, part.notes = self._settle(ask.policy, reply, empty_ok=True)
            except ValidationFailedError as error:
                if self.settings.on_ungrounded != "drop":
                    raise
                part.error = error
                continue
            if not summary.key_facts:
                part.error = ValidationFailedError("no key fact could be grounded in the article")
                continue
            part.summary = in_article(summary, ask.policy.base)
        if all(p.summary is None for p in parts):
            raise no_part_error(parts, self.article.source)
        merging, level = merge_messages(plan, parts, self.title, self.settings.max_tokens)
        merged: ArticleSummary | Exception | None = None
        merge_attempts: list[Attempt] = []
        merge_notes: list[str] = []
        merge_policy = self.policy_for_whole()
        if merging is not None:
            [reply] = yield [Ask(merging, VerbatimAnswer, merge_policy)]
            merge_attempts = reply.attempts
            try:
                merged, merge_notes = self._settle(merge_policy, reply, empty_ok=True)
                if not merged.key_facts:
                    merged = ValidationFailedError("no key fact of the merge could be grounded")
            except (ValidationFailedError, OutputTruncatedError) as error:
                merged = error
        done = assemble(
            plan, parts, merged, merge_attempts, merge_policy.checks, merge_notes, level
        )
        done.notes += check_meaning(done.summary, self.passages, self.policy.index)
        return self._result(done.summary, done.attempts, done.notes, done.checks, done.chunking)

    def policy_for_whole(self) -> Policy:
        """A fresh record of answers checked against the whole article (its index reused)."""
        return Policy(self.policy.index, self.passages)

    def _settle(
        self, policy: Policy, reply: Reply, *, empty_ok: bool = False
    ) -> tuple[ArticleSummary, list[str]]:
        """The checked summary of one reply, and the warnings of what was changed or dropped.

        Attempts ran out: with on_ungrounded=drop, the best answer that met the schema
        is kept (fewest problems, earliest on a tie: a re-ask can make a small model's
        answer worse) and its failing items dropped, each named.
        """
        # Rules A-E: summarize@2 applied them while validating (to re-cite); a copied
        # answer gets them here, or, for the parts of a long article, once at the end.
        meaning = policy.passages is not None and self.prompt.answer != "cited"
        if reply.error is None:
            assert policy.accepted is not None
            summary, notes = policy.accepted, list(policy.notes)
            if meaning:
                notes += check_meaning(summary, policy.passages, policy.index)
        else:
            if self.settings.on_ungrounded != "drop" or not policy.rejected:
                raise reply.error
            best = min(policy.rejected, key=lambda r: len(r.problems))
            summary = best.summary
            notes = [
                f"no answer passed every check after {len(reply.attempts)} call(s); kept the "
                f"best of {len(policy.rejected)} schema-valid answer(s), which had "
                f"{len(best.problems)} failing item(s)",
                *drop_problems(summary, [p for p in best.problems if p.what != "unsupported"]),
            ]
            if best.notes:
                notes += best.notes
            elif meaning or self.prompt.answer == "cited":
                notes += check_meaning(summary, policy.passages, policy.index)
        if not summary.key_facts and not empty_ok:
            if self.settings.on_ungrounded == "fail":
                raise ValidationFailedError(
                    "no key fact could be grounded in the article",
                    article_id=self.article.source,
                    attempts=reply.attempts,
                    usage=Usage.total([a.usage for a in reply.attempts]),
                )
            notes.append(self._lead_instead(summary))
        return summary, notes

    def _lead_instead(self, summary: ArticleSummary) -> str:
        """Never nothing: the article's first sentence of substance stands in as its fact."""
        sentences = self.passages.sentences
        lead = next(
            (s for s in sentences if len(s.text) >= 40), sentences[0] if sentences else None
        )
        if lead is None:
            return "no key fact could be grounded, and the article has no sentence to stand in"
        summary.key_facts = [
            KeyFact(
                statement=lead.text,
                evidence=[lead.text],
                evidence_spans=[Span(start=lead.start, end=lead.end)],
                sentence_ids=[lead.id],
            )
        ]
        return (
            "none of the model's key facts could be used; the article's lead sentence "
            f"[{lead.id}] stands in as its key fact"
        )

    def _result(
        self,
        summary: ArticleSummary,
        attempts: list[Attempt],
        notes: list[str],
        checks: list[GroundingCheck],
        chunking: Chunking | None = None,
    ) -> SummaryResult:
        usage = Usage.total([a.usage for a in attempts])
        warnings = list(notes)
        if not self.prompt.locked:
            warnings.append(f"prompt {self.prompt.ref} is a draft: it is not in prompts.lock")
        for warning in warnings:
            log.warning("%s: %s", self.article.source, warning)
        _spans_to_input(summary, self.article)
        given = (
            self.article.input_text if self.article.input_text is not None else self.article.text
        )
        settings = self.settings
        meta = Meta(
            model=settings.resolved_model,
            endpoint=settings.endpoint_host,
            mode=settings.mode,
            prompt=PromptInfo(
                name=self.prompt.name, version=self.prompt.version, sha256=self.prompt.sha256
            ),
            attempts=attempts,
            usage=usage,
            cost_usd=usage.cost_usd(settings.price(settings.resolved_model)),
            latency_s=round(time.monotonic() - self.started, 3),
            article_sha256=hashlib.sha256(given.encode("utf-8")).hexdigest(),
            article_chars=len(given),
            summarizer_version=package_version(),
            created_at=datetime.now(UTC),
            grounding=checks,
            warnings=warnings,
            calls=len(attempts),
            chunks=len(chunking.chunks) if chunking is not None else 1,
            chunking=chunking,
            **_input_meta(self.article),
        )
        return SummaryResult(summary=summary, meta=meta)


def _shown(prompt: Prompt, passages: Passages, start: int, end: int) -> str:
    """The article as the model reads it: as it is, or (cited) with sentence and quote ids.

    summarize@2 shows ``[n]`` before each sentence, ``[Qn]`` before each quotation's
    opening mark, a blank line between paragraphs, then the speakers that the
    attribution cues name, so that the model cites ids instead of copying words.
    """
    if prompt.answer != "cited":
        return passages.text[start:end]
    quotes = {q.id: q for q in passages.quotations if not q.short}
    marks = {q.mark_start: q.id for q in quotes.values()}
    lines: list[str] = []
    paragraph = None
    for sentence in passages.sentences:
        if sentence.end <= start or sentence.start >= end:
            continue
        if paragraph is not None and sentence.paragraph != paragraph:
            lines.append("\n\n")
        elif paragraph is not None:
            lines.append(" ")
        paragraph = sentence.paragraph
        text = passages.text[sentence.start : sentence.end]
        inside = sorted(
            (at - sentence.start, qid)
            for at, qid in marks.items()
            if sentence.start <= at < sentence.end
        )
        for offset, qid in reversed(inside):
            text = f"{text[:offset]}[Q{qid}]{text[offset:]}"
        lines.append(f"[{sentence.id}] {text}")
    shown = "".join(lines)
    listed = [
        f"Q{q.id}: {q.speaker or 'unknown'}" for q in quotes.values() if start <= q.start < end
    ]
    if listed:
        shown += "\n\nQuotations and who the article says spoke them:\n" + "\n".join(listed)
    return shown


def _spans_to_input(summary: ArticleSummary, article: Article) -> None:
    """Move every span from the cleaned text, where it was checked, to the text given.

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
