"""Many articles through the provider's Batch API, or through any engine that takes its files.

The live path is ``pipeline.arun(job, llm)``: a job's flow, sent by
``AsyncLLM.extract`` (instructor, the re-asks, the checks). This module runs
exactly that, for every article at once, over a client whose
``chat.completions.create`` makes no HTTP call (``llm.DeferredClient``): each
request body, the very one the live path would POST, waits under a custom_id
(``ARTICLE_ID#SHA``, the body's sha256, so a replay gives the same ids and a
changed prompt never meets a stale answer). When every flow is waiting, the
waiting requests are one *round*: written as the OpenAI batch JSONL, uploaded,
submitted (``/v1/chat/completions``, 24 h window), polled with backoff, and
their output and error files downloaded. Each answer then goes back to the
request that waits for it, and instructor validates and grounds it as it does
live; a re-ask is only the flow's next request, so it lands in the next round.
A line that failed is a transport fault, retried in the next round (at most
``transport_retries`` times); re-asks are bounded by ``max_attempts`` as live.

Resumable at every step. Beside ``--out`` (``r.jsonl``) are:

* ``r.jsonl.batch.json``, the state: each submission (its custom_ids, request
  file, input file id, batch id, status, request counts), written atomically
  *before* each step (before the upload; the file id as soon as it is known;
  the batch id as soon as it is made);
* ``r.jsonl.responses.jsonl``, every answer (200) by custom_id, appended and
  fsynced as output files are downloaded or imported;
* ``r.jsonl.requests-N.jsonl``, the request file of submission N.

A rerun first re-attaches to each submission not yet collected (polls it,
never submits it again; one killed between "create" and "record" is found again
by its input file among the listed batches), then replays the flows: stored
answers come back at once, and only what is still unanswered makes a new round.
Results are appended to ``--out`` as ``summarizer batch`` does (``ResultsFile``).

Offline engines (vLLM's run_batch, Azure OpenAI batch) take the same files:
``export`` writes the waiting round's requests instead of submitting them, and
``imports`` adds an engine's output lines to the answers before the flows replay.

A run of more than ``WAVE`` articles goes in waves, so that memory is bounded by
the wave and not by the folder: each wave's flows run until they wait, their
requests are submitted (one batch a wave), and the wave is let go; when every
batch of the pass is collected, the next pass replays the flows from the stored
answers and submits what they still ask (re-asks, lines to try again).

No key is written anywhere: a request body holds the model, messages, tools and
settings; the state holds ids and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from summarizer.batch import BatchItem, BatchResult, BatchTally, ResultsFile
from summarizer.cache import ResultCache
from summarizer.errors import ConfigError, SummarizerError
from summarizer.files import write_atomic
from summarizer.job import Job
from summarizer.pipeline import arun
from summarizer.prompts import Prompt, load_prompt
from summarizer.schema import SummaryResult, Usage
from summarizer.settings import Settings

if TYPE_CHECKING:
    from summarizer.llm import BatchAPI

__all__ = [
    "BATCH_URL",
    "MAX_FILE_BYTES",
    "MAX_REQUESTS",
    "BatchCancelledError",
    "BatchRun",
    "BatchState",
    "ResponseStore",
    "Submission",
    "cancel",
    "custom_id",
    "describe",
    "request_line",
    "run_batch",
    "state_path",
    "status",
]

log = logging.getLogger("summarizer")

BATCH_URL = "/v1/chat/completions"
MAX_REQUESTS = 50_000
"""Requests in one batch file: OpenAI's limit."""
MAX_FILE_BYTES = 190_000_000
"""Bytes in one batch file: under OpenAI's 200 MB."""
TERMINAL = ("completed", "failed", "expired", "cancelled")
WAVE = 2_000
"""Articles whose flows are held at once on the Batch API route (about 300 kB each).

A larger run goes in waves: each wave's flows run until they wait, their requests
are submitted, and the wave is let go; once every batch of the pass is collected,
the flows are replayed from the stored answers (milliseconds an article) and the
next pass submits their re-asks. Memory is bounded by the wave, not the folder."""
SETTLE_STEPS = 20
"""Event-loop turns with no change before the waiting requests are taken as a round.

A flow woken by an answer runs on (validation, grounding, a TaskGroup's parts
ending, the merge request) in a handful of turns with no I/O; 20 turns with
nothing changed means every flow is waiting. Too few would only split a round
in two, never lose a request."""

Via = Literal["batch-api", "import"]


def state_path(out: str | Path) -> Path:
    """The state file beside ``out``."""
    return Path(f"{out}.batch.json")


def custom_id(article_id: str, body: dict[str, Any]) -> str:
    """``ARTICLE_ID#SHA``: the article, and the request body's sha256 (first 16 hex).

    At most 64 characters of ``[A-Za-z0-9_.:/-]``, which every batch service takes
    (OpenRouter and others cap custom_id at 64): an id that is longer or holds
    other characters is named by its own sha256 instead (``id-`` and 24 hex).
    """
    return f"{_id_part(article_id)}#{body_sha256(body)[:16]}"


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,47}")


def _id_part(article_id: str) -> str:
    if _PLAIN_ID.fullmatch(article_id):
        return article_id
    return "id-" + hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:24]


def body_sha256(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def request_line(cid: str, body: dict[str, Any]) -> str:
    """One line of the OpenAI batch input file (and of vLLM's run_batch), no newline."""
    line = {"custom_id": cid, "method": "POST", "url": BATCH_URL, "body": body}
    return json.dumps(line, ensure_ascii=False)


# --- what is kept beside --out --------------------------------------------------------------


@dataclass
class Submission:
    """One request file and what became of it: uploaded, a batch, its outcome."""

    number: int
    round: int
    requests: list[str]
    request_file: str
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    request_counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[str] = field(default_factory=list)
    collected: bool = False
    """Its output and error files are in the response store."""
    exported_to: str | None = None
    """Written for another engine (``--export``) instead of submitted."""
    cancel_seen: bool = False
    """Already cancelled (or cancelling) when this run attached to it."""


class BatchState:
    """The state file: every submission, written atomically before each step."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.submissions: list[Submission] = []
        self.failures: dict[str, int] = {}
        """Rounds that failed each custom_id, across runs."""
        self.base_url: str | None = None
        """Where the batches are (``--base-url``; None: OpenAI), for ``status`` and ``cancel``."""
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text("utf-8"))
                self.submissions = [
                    Submission(**{k: v for k, v in s.items() if k != "cancel_seen"})
                    for s in data.get("submissions", [])
                ]
                self.failures = {str(k): int(v) for k, v in data.get("failures", {}).items()}
                self.base_url = data.get("base_url")
            except (ValueError, TypeError, AttributeError) as exc:
                raise ConfigError(
                    f"{path}: not a state file of `summarizer batch` ({exc})"
                ) from None

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "version": 1,
            "base_url": self.base_url,
            "submissions": [
                {k: v for k, v in asdict(s).items() if k != "cancel_seen"} for s in self.submissions
            ],
            "failures": self.failures,
        }
        write_atomic(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    def open_submissions(self) -> list[Submission]:
        """Submitted (or about to be) and not yet collected: to re-attach to."""
        return [s for s in self.submissions if not s.collected and s.exported_to is None]

    @property
    def rounds(self) -> int:
        return max((s.round for s in self.submissions), default=0)


class ResponseStore:
    """Answers (status 200) by custom_id; appended and fsynced as they arrive."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.answers: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            raw = path.read_bytes()
            *whole, _tail = raw.split(b"\n")  # a last line cut short by a kill: ignored
            for line in whole:
                if line.strip():
                    record = json.loads(line)
                    self.answers[record["custom_id"]] = record

    def get(self, cid: str) -> dict[str, Any] | None:
        return self.answers.get(cid)

    def add(self, lines: Iterable[dict[str, Any]]) -> int:
        """Keep the lines that are answers; return how many were new."""
        new = []
        for line in lines:
            cid = line.get("custom_id")
            response = line.get("response")
            if (
                isinstance(cid, str)
                and isinstance(response, dict)
                and response.get("status_code") == 200
                and cid not in self.answers
            ):
                record = {"custom_id": cid, "response": response}
                self.answers[cid] = record
                new.append(record)
        if new and self.path is not None:
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new).encode()
            with self.path.open("ab") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        return len(new)


def read_output_lines(data: bytes, source: str) -> list[dict[str, Any]]:
    """The lines of a batch output or error file; a line that is not JSON is an error."""
    lines = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}, line {number}: not JSON ({exc.msg})") from None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            raise ConfigError(f"{source}, line {number}: not a batch output line (no custom_id)")
        lines.append(line)
    return lines


class BatchCancelledError(SummarizerError):
    """The batch was cancelled while this run waited for it; a rerun submits the rest."""

    exit_code = 1


# --- the run --------------------------------------------------------------------------------


@dataclass
class _Waiting:
    article_id: str
    body: dict[str, Any]
    futures: list[asyncio.Future[dict[str, Any]]] = field(default_factory=list)


@dataclass
class _Article:
    item: BatchItem
    job: Job
    answered: bool = False
    """An answer of this article came back in this run: a further request is a follow-on."""
    batch_usage: Usage = field(default_factory=Usage.zero)
    """Of its usage, what came through a batch (the rest was live: ``--reask live``)."""
    not_started: bool = False


class BatchRun:
    """One run of many articles over the Batch API (or export/import): see the module doc.

    ``api`` is the Batch API client (``llm.BatchAPI``, made on first need);
    ``sleep`` is what polling waits with, ``poll`` the first and the longest wait.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        out: Path | None,
        via: Via,
        export: Path | None = None,
        imports: Iterable[Path] = (),
        reask: Literal["batch", "live"] = "batch",
        retry_failed: bool = True,
        api: BatchAPI | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        poll: tuple[float, float] = (5.0, 60.0),
        tally: BatchTally | None = None,
        on_progress: Callable[[BatchTally], None] | None = None,
        on_batch: Callable[[Submission], None] | None = None,
        max_requests: int = MAX_REQUESTS,
        wave: int = WAVE,
    ) -> None:
        if via == "import" and reask == "live" and export is not None:
            raise ConfigError("--reask live and --export: choose one for the re-asks")
        self.settings = settings
        self.out = out
        self.via: Via = via
        self.export = export
        self.imports = list(imports)
        self.reask = reask
        self.retry_failed = retry_failed
        self._api = api
        self._sleep = sleep
        self.poll = poll
        self.tally = tally if tally is not None else BatchTally()
        self.on_progress = on_progress
        self.on_batch = on_batch
        self.max_requests = max_requests
        self.wave = wave
        self._pass_round: int | None = None
        """Set while a run goes in waves (see WAVE): the round its submissions are."""
        self._told: set[str] = set()
        self.state = BatchState(state_path(out) if out is not None else None)
        if via == "batch-api":
            self.state.base_url = _keyless(settings.base_url)
        self.store = ResponseStore(Path(f"{out}.responses.jsonl") if out is not None else None)
        self.waiting: dict[str, _Waiting] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        """The last failed line of each custom_id, to answer its request with."""
        self.exported = 0
        self.exported_articles = 0
        self.failed: list[BatchResult] = []
        """The articles the last :meth:`run` wrote to ``out`` as failed (the others are
        not kept: 10,000 results would be held for nothing)."""
        self._changes = 0

    # -- the Batch API client, made when first needed

    def api(self) -> BatchAPI:
        if self._api is None:
            from summarizer.llm import BatchAPI

            self._api = BatchAPI(self.settings)
        return self._api

    # -- what a flow's request does

    def _answerer(self, article: _Article) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        """The ``answer`` of this article's DeferredClient: a stored line, or a wait."""
        from summarizer.llm import GaveUp, Unanswered

        async def answer(body: dict[str, Any]) -> dict[str, Any] | None:
            cid = custom_id(article.item.id, body)
            self._changes += 1
            stored = self.store.get(cid)
            if stored is not None:
                article.answered = True
                article.batch_usage = article.batch_usage + _line_usage(stored)
                return stored
            failed = self.state.failures.get(cid, 0)
            if self._pass_round is not None and cid in self.errors and cid not in self._told:
                self._told.add(cid)  # a replayed flow learns, once a pass, how its line failed
                return self.errors[cid]
            if failed > self.settings.transport_retries:
                raise GaveUp(
                    f"failed in {failed} batch round(s); last: {_line_error(self.errors.get(cid))}"
                )
            if self.via == "import" and self.export is None:
                if not article.answered:  # no answer imported for it: not started
                    article.not_started = True
                    await asyncio.Event().wait()  # cancelled when every flow waits
                if self.reask == "live":
                    return None  # DeferredClient sends it live
                raise Unanswered(
                    "no answer for this re-ask: give --export FILE to write it for your engine, "
                    "or --reask live"
                )
            if self.reask == "live" and article.answered:
                return None  # a re-ask (or a merge) after a batch answer: live, one call
            waiting = self.waiting.setdefault(cid, _Waiting(article.item.id, body))
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            waiting.futures.append(future)
            line = await future
            if line.get("response", {}) and line["response"].get("status_code") == 200:
                article.answered = True
                article.batch_usage = article.batch_usage + _line_usage(line)
            return line

        return answer

    # -- the run

    async def run(self, items: list[BatchItem]) -> list[BatchResult]:
        """Every article of ``items`` not yet in ``out``; returns those that failed."""
        settings = self.settings
        prompt = load_prompt(
            settings.prompt, settings.prompt_version, prompts_dir=settings.prompts_dir
        )
        failed: list[BatchResult] = []
        with contextlib.ExitStack() as stack:
            writer = None
            if self.out is not None:
                writer = stack.enter_context(ResultsFile(self.out, retry_failed=self.retry_failed))
            done = writer.done if writer is not None else set()
            todo = [item for item in items if item.id not in done]
            self.tally.total, self.tally.skipped = len(items), len(items) - len(todo)
            cache = stack.enter_context(ResultCache.for_settings(settings))

            written: set[str] = set()

            def emit(outcome: BatchResult) -> None:
                written.add(outcome.id)
                self.tally.add(outcome)
                if writer is not None:
                    writer.write(outcome)
                if not outcome.ok:  # a rerun tries it afresh
                    mine = f"{_id_part(outcome.id)}#"
                    for cid in [c for c in self.state.failures if c.startswith(mine)]:
                        del self.state.failures[cid]
                    failed.append(outcome)
                if self.on_progress is not None:
                    self.on_progress(self.tally)

            if self.on_progress is not None:
                self.on_progress(self.tally)
            for path in self.imports:
                self._import(path)
            for submission in self.state.open_submissions():  # never submitted twice
                await self._finish(submission, attached=True)
            waves = self.via == "batch-api" and self.export is None and len(todo) > self.wave
            while waves and todo:
                self._pass_round = self.state.rounds + 1  # every wave of a pass: one round
                self._told = set()
                for start in range(0, len(todo), self.wave):
                    wave = todo[start : start + self.wave]
                    jobs = await asyncio.to_thread(self._prepare, wave, prompt, emit, cache)
                    await self._drive(jobs, emit, cache, hold=False)
                opened = self.state.open_submissions()
                await asyncio.gather(*(self._finish(s) for s in opened))
                self._count_unanswered(opened)
                todo = [item for item in todo if item.id not in written]
                if not opened and todo:  # nothing was asked and nothing ended: cannot be
                    raise SummarizerError(f"{len(todo)} article(s) neither ended nor asked")
            if not waves:
                jobs = await asyncio.to_thread(self._prepare, todo, prompt, emit, cache)
                await self._drive(jobs, emit, cache)
            self.state.save()
        self.failed = failed
        return failed

    def _prepare(
        self,
        items: list[BatchItem],
        prompt: Prompt,
        emit: Callable[[BatchResult], None],
        cache: ResultCache,
    ) -> list[_Article]:
        """Read, clean and find every article; a cached one is written at once."""
        jobs = []
        for item in items:
            try:
                article = item.load(self.settings.max_input_bytes, self.settings)
                job = Job.prepare(article, self.settings, item.title, prompt)
            except SummarizerError as error:
                emit(BatchResult(item.id, item.source, error=error, cost_usd=0.0))
                continue
            cached = cache.get(job.key)
            if cached is not None:
                emit(BatchResult(item.id, item.source, result=cached, cost_usd=0.0))
                continue
            # Every part of a long article in the same round; no article_timeout across
            # a 24 h wait (the clock below stands still).
            job.settings = self.settings.model_copy(update={"chunk_concurrency": 64})
            jobs.append(_Article(item, job))
        return jobs

    async def _drive(
        self,
        jobs: list[_Article],
        emit: Callable[[BatchResult], None],
        cache: ResultCache,
        *,
        hold: bool = True,
    ) -> None:
        """Run the flows to their ends, round after round; or, with ``hold=False`` (a
        wave), until they all wait: then submit what waits and let the flows go."""
        from summarizer.llm import AsyncLLM, DeferredClient

        live = None
        if self.reask == "live":
            live = AsyncLLM(self.settings)  # its client sends what no engine answers
        tasks: dict[asyncio.Task[SummaryResult], _Article] = {}
        for article in jobs:
            client = DeferredClient(self._answerer(article), live=live.client if live else None)
            llm = AsyncLLM(article.job.settings, client=client, clock=_still, sleep=_no_wait)
            tasks[asyncio.create_task(arun(article.job, llm))] = article
        jobs.clear()  # each article is now held by its task alone, and freed when written
        try:
            while tasks:
                await self._settle(tasks)
                for task in [t for t in tasks if t.done()]:
                    article = tasks.pop(task)
                    emit(self._outcome(article, task, cache))
                if not tasks:
                    break
                if not self.waiting:
                    if all(tasks[t].not_started for t in tasks):
                        break  # each waits for an answer no file has: not started
                    # flows busy with live calls (--reask live): wait for one to end
                    await asyncio.wait(tasks, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if self.export is not None:
                    self._export_round()
                    break
                if not hold:
                    await self._submit_waiting()
                    break
                await self._round()
        finally:
            left = list(tasks)
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            self.tally.not_started += sum(1 for t in left if tasks[t].not_started)
            if live is not None:
                await live.close()

    async def _settle(self, tasks: dict[asyncio.Task[SummaryResult], _Article]) -> None:
        """Let every flow run until each waits for an answer or has ended (SETTLE_STEPS)."""
        quiet = 0
        last: tuple[int, int, int] = (-1, -1, -1)
        while quiet < SETTLE_STEPS:
            await asyncio.sleep(0)
            now = (self._changes, len(self.waiting), sum(t.done() for t in tasks))
            quiet = quiet + 1 if now == last else 0
            last = now

    def _outcome(
        self, article: _Article, task: asyncio.Task[SummaryResult], cache: ResultCache
    ) -> BatchResult:
        item, settings = article.item, self.settings
        batch_price = settings.batch_price(settings.resolved_model)
        live_price = settings.price(settings.resolved_model)
        error = task.exception()
        if error is None:
            result = task.result()
            result.meta.via = self.via
            result.meta.cost_usd = _cost(
                result.meta.usage, article.batch_usage, batch_price, live_price
            )
            cache.put(article.job.key, result)
            return BatchResult(item.id, item.source, result=result, cost_usd=result.meta.cost_usd)
        if isinstance(error, SummarizerError):
            error.article_id = error.article_id or item.id
            outcome = BatchResult(item.id, item.source, error=error)
            outcome.cost_usd = _cost(outcome.spent, article.batch_usage, batch_price, live_price)
            return outcome
        log.debug("%s: unexpected error", item.source, exc_info=error)
        wrapped = SummarizerError(
            f"internal error: {type(error).__name__}: {error}", article_id=item.id
        )
        return BatchResult(item.id, item.source, error=wrapped)

    # -- one round

    def _files(self, cids: list[str]) -> list[tuple[list[str], str]]:
        """The round's request files: at most ``max_requests`` lines and MAX_FILE_BYTES."""
        files: list[tuple[list[str], str]] = []
        ids: list[str] = []
        lines: list[str] = []
        size = 0
        for cid in cids:
            line = request_line(cid, self.waiting[cid].body) + "\n"
            grown = size + len(line.encode("utf-8"))
            if ids and (len(ids) >= self.max_requests or grown > MAX_FILE_BYTES):
                files.append((ids, "".join(lines)))
                ids, lines, grown = [], [], len(line.encode("utf-8"))
            ids.append(cid)
            lines.append(line)
            size = grown
        if ids:
            files.append((ids, "".join(lines)))
        return files

    async def _round(self) -> None:
        """Submit what waits, wait for it, and answer each request from what came back."""
        submissions = self._write_round()
        await asyncio.gather(*(self._finish(s) for s in submissions))
        self._answer_waiting()

    def _write_round(self) -> list[Submission]:
        """The request files of what waits, each a submission in the state, not yet sent."""
        number = self._pass_round or self.state.rounds + 1
        cids = sorted(self.waiting)
        submissions = []
        for ids, data in self._files(cids):
            index = len(self.state.submissions) + 1
            path = Path(f"{self.out}.requests-{index}.jsonl")
            write_atomic(path, data)
            submission = Submission(index, number, ids, str(path))
            self.state.submissions.append(submission)
            self.state.save()  # before anything is sent
            submissions.append(submission)
        log.info("batch round %d: %d request(s) in %d file(s)", number, len(cids), len(submissions))
        return submissions

    async def _submit_waiting(self) -> None:
        """A wave's round: what waits and was not sent yet is submitted, not waited for."""
        sent = {cid for s in self.state.open_submissions() for cid in s.requests}
        fresh = {cid: w for cid, w in self.waiting.items() if cid not in sent}
        self.waiting, keep = fresh, self.waiting
        try:
            submissions = self._write_round()
            await asyncio.gather(*(self._finish(s, start_only=True) for s in submissions))
        finally:
            self.waiting = {}
            del keep

    def _count_unanswered(self, submissions: list[Submission]) -> None:  # waves only
        """After a pass: a request its batch did not answer is one failure more (as
        :meth:`_answer_waiting` counts it for a held flow); a replay sends it again."""
        for submission in submissions:
            for cid in submission.requests:
                if self.store.get(cid) is None:
                    self.state.failures[cid] = self.state.failures.get(cid, 0) + 1
        self.state.save()

    def _answer_waiting(self) -> None:
        """Every waiting request gets its line: the answer, or the failed line (retried)."""
        waiting, self.waiting = self.waiting, {}
        for cid, entry in waiting.items():
            line = self.store.get(cid)
            if line is None:
                self.state.failures[cid] = self.state.failures.get(cid, 0) + 1
                line = self.errors.get(cid) or _no_line(cid, "the batch ended without it")
            for future in entry.futures:
                if not future.done():
                    future.set_result(line)
        self.state.save()

    async def _finish(
        self, submission: Submission, *, attached: bool = False, start_only: bool = False
    ) -> None:
        """Upload, create, poll and collect one submission, from wherever it stopped
        (``start_only``: until the batch is created)."""
        api = self.api()
        if submission.batch_id is None:
            if submission.input_file_id is None:
                path = Path(submission.request_file)
                if not path.exists():  # killed before the file was whole: nothing was sent
                    submission.collected, submission.status = True, "never-sent"
                    self.state.save()
                    return
                submission.input_file_id = await api.upload(path.name, path.read_bytes())
                self.state.save()
            found = await api.find(submission.input_file_id)  # made, then killed before saved?
            batch = found or await api.create(
                submission.input_file_id,
                {"summarizer_out": Path(str(self.out)).name, "round": str(submission.round)},
            )
            submission.batch_id = batch["id"]
            self._update(submission, batch)
        if start_only:
            return
        if attached and submission.status in ("cancelling", "cancelled"):
            submission.cancel_seen = True
        delay = self.poll[0]
        while submission.status not in TERMINAL:
            batch = await api.retrieve(submission.batch_id)
            self._update(submission, batch)
            if submission.status in TERMINAL:
                break
            await self._sleep(delay)
            delay = min(max(delay * 1.5, 0.001), self.poll[1])
        await self._collect(submission)
        if submission.status == "cancelled" and not submission.cancel_seen:
            raise BatchCancelledError(
                f"batch {submission.batch_id} was cancelled: "
                f"{submission.request_counts.get('completed', 0)} answer(s) kept; run the same "
                "command again to submit the rest"
            )

    def _update(self, submission: Submission, batch: dict[str, Any]) -> None:
        before = (submission.status, submission.request_counts)
        submission.status = batch.get("status")
        counts = batch.get("request_counts") or {}
        submission.request_counts = {k: int(v) for k, v in counts.items() if v is not None}
        submission.output_file_id = batch.get("output_file_id")
        submission.error_file_id = batch.get("error_file_id")
        errors = (batch.get("errors") or {}).get("data") or []
        submission.errors = [str(e.get("message") or e.get("code")) for e in errors]
        if (submission.status, submission.request_counts) != before:
            self.state.save()
            log.info(
                "batch %s: %s %s", submission.batch_id, submission.status, submission.request_counts
            )
        if self.on_batch is not None:
            self.on_batch(submission)

    async def _collect(self, submission: Submission) -> None:
        """Download the output and error files into the store; then it is collected."""
        if submission.collected:
            return
        api = self.api()
        lines: list[dict[str, Any]] = []
        for file_id in (submission.output_file_id, submission.error_file_id):
            if file_id:
                lines += read_output_lines(await api.download(file_id), f"file {file_id}")
        self.store.add(lines)
        why = f"batch {submission.batch_id} {submission.status}"
        if submission.errors:
            why += f": {submission.errors[0]}"
        for line in lines:
            if self.store.get(line["custom_id"]) is None:
                self.errors[line["custom_id"]] = line
        for cid in submission.requests:
            if self.store.get(cid) is None and cid not in self.errors:
                self.errors[cid] = _no_line(cid, f"{why}, without an answer to it")
        submission.collected = True
        self.state.save()

    # -- offline engines

    def _export_round(self) -> None:
        """Write what waits as a request file for another engine; those articles wait too."""
        assert self.export is not None
        cids = sorted(self.waiting)
        data = "".join(request_line(cid, self.waiting[cid].body) + "\n" for cid in cids)
        write_atomic(self.export, data)
        index = len(self.state.submissions) + 1
        self.state.submissions.append(
            Submission(
                index,
                self.state.rounds + 1,
                cids,
                str(self.export),
                exported_to=str(self.export),
                collected=True,
            )
        )
        self.state.save()
        self.exported = len(cids)
        self.exported_articles = len({w.article_id for w in self.waiting.values()})

    def _import(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"--import {path}: cannot read: {exc.strerror or exc}") from None
        lines = read_output_lines(data, str(path))
        added = self.store.add(lines)
        failed = [line for line in lines if (line.get("response") or {}).get("status_code") != 200]
        if failed:
            log.warning("%s: %d line(s) are errors, not answers", path, len(failed))
        log.info("%s: %d answer(s) added", path, added)


def _line_usage(line: dict[str, Any]) -> Usage:
    usage = ((line.get("response") or {}).get("body") or {}).get("usage") or {}
    if not isinstance(usage, dict):
        return Usage.zero()
    return Usage(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
    )


def _line_error(line: dict[str, Any] | None) -> str:
    if line is None:
        return "no answer"
    error = line.get("error") or ((line.get("response") or {}).get("body") or {}).get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    return str(error)


def _no_line(cid: str, message: str) -> dict[str, Any]:
    return {"custom_id": cid, "response": None, "error": {"code": "no_answer", "message": message}}


def _cost(
    total: Usage,
    batch: Usage,
    batch_price: tuple[float, float] | None,
    live_price: tuple[float, float] | None,
) -> float | None:
    """Batch answers at the batch price, any live re-ask at the live one."""
    if total.prompt_tokens is None or total.completion_tokens is None:
        return None
    batch_prompt, batch_completion = batch.prompt_tokens or 0, batch.completion_tokens or 0
    live = Usage(
        prompt_tokens=total.prompt_tokens - batch_prompt,
        completion_tokens=total.completion_tokens - batch_completion,
        total_tokens=None,
    )
    batch_cost = Usage(
        prompt_tokens=batch_prompt, completion_tokens=batch_completion, total_tokens=None
    ).cost_usd(batch_price)
    if not (live.prompt_tokens or live.completion_tokens):
        return batch_cost
    live_cost = live.cost_usd(live_price)
    if batch_cost is None or live_cost is None:
        return None
    return round(batch_cost + live_cost, 8)


def _keyless(url: str | None) -> str | None:
    """``url`` without user, password or query: what may be written beside --out."""
    if url is None:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _still() -> float:
    """The clock of a batch run's flows: article_timeout does not run out over a 24 h wait."""
    return 0.0


async def _no_wait(seconds: float) -> None:
    """A failed line is retried in the next round: no wait between tries."""


def run_batch(items: list[BatchItem], settings: Settings, **kwargs: Any) -> BatchRun:
    """Run ``items`` through :class:`BatchRun` in an event loop of its own; return the run."""
    run = BatchRun(settings, **kwargs)

    async def go() -> None:
        try:
            await run.run(items)
        finally:
            if run._api is not None:
                await run._api.close()

    asyncio.run(go())
    return run


# --- batch status | cancel ----------------------------------------------------------------


def status(out: Path, settings: Settings, *, refresh: bool = True) -> list[Submission]:
    """The submissions of the run writing ``out``; with ``refresh``, as the provider sees them."""
    state, settings = _existing_state(out, settings)
    if refresh and state.open_submissions():
        from summarizer.llm import BatchAPI

        async def go() -> None:
            api = BatchAPI(settings)
            try:
                for submission in state.open_submissions():
                    if submission.batch_id is not None:
                        batch = await api.retrieve(submission.batch_id)
                        submission.status = batch.get("status")
                        counts = batch.get("request_counts") or {}
                        submission.request_counts = {
                            k: int(v) for k, v in counts.items() if v is not None
                        }
            finally:
                await api.close()

        asyncio.run(go())
        state.save()
    return state.submissions


def cancel(out: Path, settings: Settings) -> list[Submission]:
    """Cancel every batch of ``out`` still running; what finished is kept by the next run."""
    state, settings = _existing_state(out, settings)
    from summarizer.llm import BatchAPI

    cancelled: list[Submission] = []

    async def go() -> None:
        api = BatchAPI(settings)
        try:
            for submission in state.open_submissions():
                if submission.batch_id is not None and submission.status not in TERMINAL:
                    batch = await api.cancel(submission.batch_id)
                    submission.status = batch.get("status")
                    cancelled.append(submission)
        finally:
            await api.close()

    asyncio.run(go())
    state.save()
    return cancelled


def _existing_state(out: Path, settings: Settings) -> tuple[BatchState, Settings]:
    """The state of ``out``, and settings pointing where its batches are."""
    path = state_path(out)
    if not path.exists():
        raise ConfigError(f"{path}: no Batch API state (was `summarizer batch --batch-api` run?)")
    state = BatchState(path)
    if settings.base_url is None and state.base_url is not None:
        settings = settings.model_copy(update={"base_url": state.base_url})
    return state, settings


def describe(submissions: list[Submission]) -> str:
    """One line per submission, for ``summarizer batch status``."""
    lines = []
    for s in submissions:
        counts = s.request_counts
        where = (s.exported_to and f"exported to {s.exported_to}") or (s.batch_id or "not created")
        done = f"{counts.get('completed', 0)}/{counts.get('total', len(s.requests))} done"
        if counts.get("failed"):
            done += f", {counts['failed']} failed"
        state = s.status or ("exported" if s.exported_to else "not submitted")
        kept = "collected" if s.collected and not s.exported_to else ""
        lines.append("\t".join(x for x in (f"round {s.round}", where, state, done, kept) if x))
    return "\n".join(lines) + ("\n" if lines else "")
