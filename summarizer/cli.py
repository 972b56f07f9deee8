"""The ``summarizer`` command. stdout carries only the result; everything else goes to stderr.

Heavy imports (openai, instructor) happen inside the commands that need them,
so ``summarizer --help`` stays fast. Nothing in the package imports this module.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeAlias, TypeVar

import typer

from summarizer.choices import LOCAL_SIZES, MODES, ON_UNGROUNDED
from summarizer.errors import ConfigError, SummarizerError
from summarizer.files import write_atomic
from summarizer.redact import SECRETS, add_secret

if TYPE_CHECKING:
    from summarizer.batch import BatchTally
    from summarizer.live import LiveView
    from summarizer.render import Format
    from summarizer.settings import Settings

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="summarizer",
    help=(
        "Verified structured summaries of news articles: every quote and evidence passage "
        "is checked against the article and returned with its character offsets."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
prompts_app = typer.Typer(
    help="List and show the versioned prompt templates.", no_args_is_help=True
)
app.add_typer(prompts_app, name="prompts")
models_app = typer.Typer(
    help="The embedded local model, used when no --base-url or API key is given.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")
cache_app = typer.Typer(
    help="The result cache (cache_dir/results.sqlite3): a result reused costs no call.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")
NO_CACHE_HELP = "Neither read nor write the result cache. Env: SUMMARIZER_CACHE=0."

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 verify found ungrounded items or an internal error, 2 usage or "
    "configuration, 3 unreadable input, 4 model endpoint failed, 5 no valid grounded answer."
)


class OutputFormat(enum.StrEnum):
    json = "json"
    markdown = "markdown"
    text = "text"
    html = "html"


FORMATS: dict[OutputFormat, Format] = {
    OutputFormat.json: "json",
    OutputFormat.markdown: "markdown",
    OutputFormat.text: "text",
}
"""What render.py writes; html is review.py's page."""


# The choices come from summarizer/choices.py, which settings types its fields with.
if TYPE_CHECKING:
    ModeChoice: TypeAlias = enum.StrEnum
    OnUngrounded: TypeAlias = enum.StrEnum
    LocalSize: TypeAlias = enum.StrEnum
else:
    ModeChoice = enum.StrEnum("ModeChoice", [(m, m) for m in MODES])
    OnUngrounded = enum.StrEnum("OnUngrounded", [(o, o) for o in ON_UNGROUNDED])
    LocalSize = enum.StrEnum("LocalSize", [(size, size) for size in LOCAL_SIZES])


# The options that summarize, batch and eval share: one definition each. None means
# "not given": the default is the setting's (README, Settings), so help does not repeat it.
ModelOpt = Annotated[str | None, typer.Option(help="Model name. Env: SUMMARIZER_MODEL.")]
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="OpenAI-compatible endpoint. Env: OPENAI_BASE_URL.")
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(help="API key; prefer the env var OPENAI_API_KEY.", show_default=False),
]
PromptOpt = Annotated[
    str | None, typer.Option(help="Prompt NAME or NAME@VERSION (latest version if none).")
]
ModeOpt = Annotated[ModeChoice | None, typer.Option(help="instructor mode.")]
MaxAttemptsOpt = Annotated[
    int | None,
    typer.Option(min=1, max=10, help="Answers tried, re-asks included."),
]
OnUngroundedOpt = Annotated[
    OnUngrounded | None,
    typer.Option(help="When attempts run out: drop ungrounded items (with warnings) or fail."),
]
MaxTokensOpt = Annotated[int | None, typer.Option(help="Cap on each answer's tokens.")]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(help="Seconds for one HTTP request (longer for the local model)."),
]
ArticleTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        help="Seconds for one article, every call, wait and re-ask included (longer for "
        "the local model)."
    ),
]
LocalModelOpt = Annotated[
    LocalSize | None,
    typer.Option(help="Local model size when no endpoint or key is set."),
]
GgufOpt = Annotated[
    Path | None,
    typer.Option(help="Serve this GGUF file as the local model. Env: SUMMARIZER_GGUF."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help=NO_CACHE_HELP)]
ContextTokensOpt = Annotated[
    int | None,
    typer.Option(
        min=256,
        help="The model's context window; a longer article is summarized in chunks, then "
        "merged. Env: SUMMARIZER_CONTEXT_TOKENS (else known by model name).",
    ),
]
LanguageOpt = Annotated[
    str | None,
    typer.Option(
        help="Write the headline, statements and questions in this language (e.g. English); "
        "quotes stay as written. Env: SUMMARIZER_LANGUAGE (else the article's own).",
    ),
]
NoCleanOpt = Annotated[
    bool,
    typer.Option(
        "--no-clean",
        help="Send the text as given: keep repeated lines, banners, share buttons, cookie "
        "and JavaScript notices. Env: SUMMARIZER_CLEAN=0.",
    ),
]
_SETTING_OPTIONS = (
    "model",
    "base_url",
    "api_key",
    "prompt",
    "mode",
    "max_attempts",
    "on_ungrounded",
    "max_tokens",
    "timeout",
    "article_timeout",
    "local_model",
    "gguf",
    "context_tokens",
    "language",
)


class _State:
    debug = False


def _setup_logging(verbose: int, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("summarizer: %(levelname)s: %(message)s"))
    # Last line of defence: the process's one secret filter (summarizer/redact.py), on
    # the handler too, so no record leaves with a key in it, whoever logged it.
    for variable in ("OPENAI_API_KEY", "SUMMARIZER_API_KEY"):
        add_secret(os.environ.get(variable))
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # instructor logs every failed attempt at ERROR; we report failures ourselves.
    logging.getLogger("instructor").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    for noisy in ("httpx", "httpx2", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def _settings(params: dict[str, Any], **fixed: Any) -> Settings:
    """Settings from a command's shared options (None: not given), then the environment."""
    from summarizer.settings import load_settings

    given = {
        name: value.value if isinstance(value, enum.Enum) else value
        for name, value in params.items()
        if name in _SETTING_OPTIONS
    }
    if params.get("no_cache"):
        given["cache"] = False
    if params.get("no_clean"):
        given["clean"] = False
    add_secret(given.get("api_key"))
    settings = load_settings(**given, **fixed)
    if settings.api_key is not None:
        add_secret(settings.api_key.get_secret_value())
    return settings


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"summarizer: error: {message}", err=True)
    raise typer.Exit(code)


def _guard(fn: Callable[[], T]) -> T:
    """Known errors become one line and their exit code; --debug shows tracebacks."""
    try:
        return fn()
    except SummarizerError as error:
        if _State.debug:
            raise
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        typer.echo("summarizer: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        if _State.debug or os.environ.get("SUMMARIZER_RAISE_ERRORS"):
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug)", 1)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            write_atomic(output, text)
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None


def _version_callback(value: bool) -> None:
    if value:
        from summarizer.about import package_version

        typer.echo(f"summarizer {package_version()}")
        raise typer.Exit()


@app.callback(epilog=EXIT_CODES_HELP)
def _main(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Log more to stderr.")
    ] = 0,
    debug: Annotated[
        bool, typer.Option("--debug", help="Debug logs and full tracebacks on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print version."),
    ] = False,
) -> None:
    _State.debug = debug
    _setup_logging(verbose, debug)


@app.command(epilog=EXIT_CODES_HELP)
def summarize(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="Article text file, - for stdin, an HTML file, or an http(s):// URL "
            "(HTML and URLs need the html extra).",
            metavar="PATH|-|URL",
        ),
    ],
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help="json (for jq), markdown, text, or html: a review page with each fact "
            "highlighted on its evidence.",
        ),
    ] = OutputFormat.json,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (atomically), not stdout.")
    ] = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    mode: ModeOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    on_ungrounded: OnUngroundedOpt = None,
    max_tokens: MaxTokensOpt = None,
    timeout: TimeoutOpt = None,
    article_timeout: ArticleTimeoutOpt = None,
    title: Annotated[str | None, typer.Option(help="Article title, given to the prompt.")] = None,
    local_model: LocalModelOpt = None,
    gguf: GgufOpt = None,
    no_cache: NoCacheOpt = False,
    context_tokens: ContextTokensOpt = None,
    no_clean: NoCleanOpt = False,
    language: LanguageOpt = None,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="On a terminal, show each step and the answer as the model writes it "
            "(on stderr; never when stderr is not a terminal).",
        ),
    ] = True,
) -> None:
    """Summarize one article; quotes and evidence come back with character offsets.

    Offsets point into the article as given, even though the model saw a copy with
    scraped boilerplate removed; meta.cleaning lists what was removed.
    """

    def run() -> None:
        from summarizer import live
        from summarizer.pipeline import summarize as run_summary
        from summarizer.render import render
        from summarizer.sources import load_source

        settings = _settings(ctx.params)
        with _live_view(progress and _on_terminal()) as view:
            live.stage(f"reading {path}")
            article = load_source(path, settings)
            result = run_summary(article, settings=settings, title=title)
        if view is not None:
            summary, warnings = result.summary, result.meta.warnings
            view.done(
                f"checked: {len(summary.key_facts)} key fact(s), "
                f"{len(summary.source_quotes)} quote(s), {len(warnings)} warning(s)"
            )
        for warning in result.meta.warnings:
            logging.getLogger("summarizer").debug("warning kept in meta: %s", warning)
        if fmt is OutputFormat.html:
            from summarizer.review import review_page

            _emit(review_page(result, article.text), output)  # offsets point into it
        else:
            _emit(render(result, FORMATS[fmt]), output)

    _guard(run)


@app.command()
def schema(
    result: Annotated[
        bool, typer.Option("--result", help="The whole result (summary + meta), not the summary.")
    ] = False,
) -> None:
    """Print the JSON Schema of a summary (what the model fills in) or of a whole result."""
    import json

    from summarizer.schema import ArticleSummary, SummaryResult

    model = SummaryResult if result else ArticleSummary
    typer.echo(json.dumps(model.model_json_schema(), indent=2))


@prompts_app.command("list")
def prompts_list() -> None:
    """Every prompt version, with its hash and whether it is released (locked)."""

    def run() -> None:
        from summarizer.prompts import list_prompts

        for p in list_prompts():
            state = "released" if p.locked else "draft"
            typer.echo(f"{p.ref}\t{state}\t{p.sha256[:12]}\t{p.description}")

    _guard(run)


@prompts_app.command("show")
def prompts_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION", metavar="NAME[@VERSION]")],
) -> None:
    """Print a prompt template exactly as stored."""

    def run() -> None:
        from summarizer.prompts import load_prompt

        prompt = load_prompt(ref)
        sys.stdout.write(prompt.source)

    _guard(run)


@models_app.command("fetch")
def models_fetch(
    size: Annotated[
        LocalSize | None, typer.Option(help="Which model to fetch (else the local_model setting).")
    ] = None,
) -> None:
    """Download, assemble and verify the local model's GGUF (once; later calls do nothing)."""

    def run() -> None:
        from summarizer.local import MODELS, fetch_model, installed_models
        from summarizer.settings import load_settings

        settings = load_settings()
        wanted = size.value if size is not None else settings.local_model
        spec = MODELS[wanted]
        if any(m.size == wanted for m in installed_models(settings.models_dir)):
            typer.echo(f"{spec.alias} is already fetched", err=True)
        else:
            typer.echo(f"fetching {spec.alias} ({spec.size_bytes / 1e6:,.0f} MB)", err=True)
        path = fetch_model(
            wanted,
            models_dir=settings.models_dir,
            progress=lambda message: typer.echo(f"  {message}", err=True),
        )
        typer.echo(str(path))

    _guard(run)


@models_app.command("list")
def models_list() -> None:
    """The local models that are fetched and verified, with size and path."""

    def run() -> None:
        from summarizer.local import installed_models
        from summarizer.settings import load_settings

        settings = load_settings()
        found = installed_models(settings.models_dir)
        if not found:
            typer.echo(
                f"no local model in {settings.models_dir}: run `summarizer models fetch`", err=True
            )
        for model in found:
            typer.echo(
                f"{model.size}\t{model.alias}\t{model.size_bytes / 1e6:,.0f} MB\t{model.path}"
            )

    _guard(run)


class Reask(enum.StrEnum):
    batch = "batch"
    live = "live"


@app.command(
    epilog="Exit codes: 0 every article ok (with --export: the requests written), 1 an article "
    "failed or was not started (budget; no answer imported), 2 usage or configuration, 3 no "
    "usable input, 4 the endpoint (or the Batch API) failed."
)
def batch(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Article files (text or HTML), directories of .txt/.md/.html files, "
            'http(s) URLs, .jsonl files of {"id", "text", "title"} lines. Or `status OUT` '
            "(the Batch API state of the run writing OUT: batch ids, status, request counts) "
            "or `cancel OUT` (cancel its running batches; what finished is kept).",
            metavar="PATH...",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="JSONL results, one line per article as it finishes; run again with the same "
            "file to resume. Required, except with --export alone.",
        ),
    ] = None,
    batch_api: Annotated[
        bool,
        typer.Option(
            "--batch-api",
            help="Send the requests through the provider's Batch API (half the price, "
            "answers within 24 h), in rounds: re-asks go in the next one. Resumable: the "
            "state is kept beside --out; a rerun re-attaches, never submits twice.",
        ),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write the requests still to be answered as an OpenAI batch JSONL file for "
            "another engine (vLLM's run_batch, Azure OpenAI batch); no call, no key.",
        ),
    ] = None,
    import_: Annotated[
        list[Path] | None,
        typer.Option(
            "--import",
            help="An engine's batch output file (JSONL) to ground and write the results of; "
            "re-asks still needed go to --export, or live with --reask live.",
        ),
    ] = None,
    reask: Annotated[
        Reask,
        typer.Option(
            help="With --import or --batch-api: re-asks in the next batch round (or "
            "--export), or live, one call each, at --base-url.",
        ),
    ] = Reask.batch,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", min=1, max=256, help="Articles in flight.")
    ] = 8,
    budget_tokens: Annotated[
        int | None,
        typer.Option(min=0, help="Start no new article once this run has spent this many tokens."),
    ] = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed/--keep-failed",
            help="On resume, redo articles whose line says failed, or keep those lines.",
        ),
    ] = True,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    mode: ModeOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    on_ungrounded: OnUngroundedOpt = None,
    max_tokens: MaxTokensOpt = None,
    timeout: TimeoutOpt = None,
    article_timeout: ArticleTimeoutOpt = None,
    local_model: LocalModelOpt = None,
    gguf: GgufOpt = None,
    no_cache: NoCacheOpt = False,
    context_tokens: ContextTokensOpt = None,
    no_clean: NoCleanOpt = False,
    language: LanguageOpt = None,
) -> None:
    """Summarize many articles at once, with progress on stderr and a resumable JSONL file.

    Each line of --out is {"id", "source", "ok", "result" | "error"}, written as the
    article finishes. One article's failure does not stop the others. Run the same
    command again to resume: ids with a result are skipped, failed ones redone.

    Live by default (-j requests at a time). --batch-api sends them through the
    provider's Batch API; --export and --import go through a file for any engine that
    takes the OpenAI batch format (vLLM's run_batch). Every answer is checked and
    grounded as live. `summarizer batch status OUT` and `summarizer batch cancel OUT`
    show or cancel the batches of a --batch-api run.
    """
    if paths and paths[0] in ("status", "cancel") and not Path(paths[0]).exists():
        _batch_state_command(ctx, paths)
        return
    offline = batch_api or export is not None or bool(import_)

    def run() -> int:
        from summarizer.batch import BatchTally, discover, summarize_many

        settings = _settings(ctx.params)
        if out is None and not (export is not None and not batch_api):
            raise ConfigError("--out is required (except with --export alone)")
        items = discover(paths)
        if offline:
            for name, flag in (("concurrency", "-j"), ("budget_tokens", "--budget-tokens")):
                source = ctx.get_parameter_source(name)  # typer's own click: by name
                if source is not None and source.name == "COMMANDLINE":
                    logging.getLogger("summarizer").warning(
                        "%s has no effect with --batch-api, --export or --import "
                        "(the provider or the engine paces the requests)",
                        flag,
                    )
            return _batch_offline(settings, items, paths, out, batch_api, export, import_, reask)
        assert out is not None
        inputs = {Path(p).resolve() for p in paths} | {i.path.resolve() for i in items if i.path}
        if out.resolve() in inputs:
            raise ConfigError(f"--out {out} is one of the inputs")
        tally = BatchTally()
        log = logging.getLogger("summarizer")
        with _batch_progress() as show:
            try:
                for outcome in summarize_many(
                    items,
                    settings=settings,
                    out=out,
                    concurrency=concurrency,
                    budget_tokens=budget_tokens,
                    retry_failed=retry_failed,
                    tally=tally,
                    on_progress=show,
                ):
                    if outcome.error is not None:
                        why = str(outcome.error).removeprefix(f"{outcome.source}: ")
                        log.warning("failed: %s: %s", outcome.source, why)
            except (KeyboardInterrupt, SystemExit):  # Ctrl-C, or SIGTERM (_exit_on_sigterm)
                typer.echo(
                    f"summarizer: {tally.done:,} article(s) of this run are in {out}; "
                    "run the same command again to resume",
                    err=True,
                )
                raise
        typer.echo(f"summarizer: {tally.summary()}", err=True)
        return 1 if tally.failed or tally.not_started else 0

    code = _guard(run)
    if code:
        raise typer.Exit(code)


def _batch_state_command(ctx: typer.Context, paths: list[str]) -> None:
    """`summarizer batch status OUT` and `summarizer batch cancel OUT`."""

    def run() -> int:
        from summarizer import batchapi

        if len(paths) != 2:
            raise ConfigError(f"usage: summarizer batch {paths[0]} OUT (the --out of the run)")
        out = Path(paths[1])
        settings = _settings(ctx.params)
        if paths[0] == "status":
            sys.stdout.write(batchapi.describe(batchapi.status(out, settings)))
            return 0
        cancelled = batchapi.cancel(out, settings)
        sys.stdout.write(batchapi.describe(cancelled))
        typer.echo(
            f"summarizer: {len(cancelled)} batch(es) cancelled; what they finished is kept "
            "by the next run of the same command, which submits the rest",
            err=True,
        )
        return 0

    code = _guard(run)
    if code:
        raise typer.Exit(code)


def _batch_offline(
    settings: Settings,
    items: list[Any],
    paths: list[str],
    out: Path | None,
    batch_api: bool,
    export: Path | None,
    imports: list[Path] | None,
    reask: Reask,
) -> int:
    """`batch --batch-api`, `--export`, `--import`: see summarizer/batchapi.py."""
    from summarizer.batch import BatchTally
    from summarizer.batchapi import Submission, run_batch, state_path

    if batch_api and (export is not None or imports):
        raise ConfigError("--batch-api, or --export/--import: choose one route")
    if (batch_api or reask is Reask.live) and settings.uses_local_model:
        raise ConfigError(
            f"{'--batch-api' if batch_api else '--reask live'} needs an endpoint: set "
            "OPENAI_API_KEY (and --base-url for another provider than OpenAI)"
        )
    inputs = {Path(p).resolve() for p in paths} | {i.path.resolve() for i in items if i.path}
    for name, given in (("--out", out), ("--export", export)):
        if given is not None and given.resolve() in inputs:
            raise ConfigError(f"{name} {given} is one of the inputs")
    tally = BatchTally()
    seen: dict[str, tuple[str | None, int]] = {}

    def on_batch(submission: Submission) -> None:
        counts = submission.request_counts
        now = (submission.status, counts.get("completed", 0) + counts.get("failed", 0))
        if seen.get(str(submission.batch_id)) != now:
            seen[str(submission.batch_id)] = now
            typer.echo(
                f"summarizer: batch {submission.batch_id} (round {submission.round}): "
                f"{submission.status}, {counts.get('completed', 0):,} done, "
                f"{counts.get('failed', 0):,} failed of {counts.get('total', 0):,}",
                err=True,
            )

    log = logging.getLogger("summarizer")
    with _batch_progress() as show:
        try:
            run = run_batch(
                items,
                settings,
                out=out,
                via="batch-api" if batch_api else "import",
                export=export,
                imports=imports or [],
                reask=reask.value,
                tally=tally,
                on_progress=show,
                on_batch=on_batch,
            )
        except (KeyboardInterrupt, SystemExit):
            where = f"; the Batch API state is in {state_path(out)}" if out else ""
            typer.echo(
                f"summarizer: {tally.done:,} article(s) of this run are in {out}{where}; run "
                "the same command again to resume (a batch already sent is re-attached)",
                err=True,
            )
            raise
    for outcome in run.failed:
        why = str(outcome.error).removeprefix(f"{outcome.source}: ")
        log.warning("failed: %s: %s", outcome.source, why)
    if export is not None and run.exported:
        again = " ".join([*paths, "--import", "results.jsonl", "--out", str(out or "r.jsonl")])
        typer.echo(
            f"summarizer: wrote {run.exported:,} request(s) of {run.exported_articles:,} "
            f"article(s) to {export}; run them, e.g. `python -m "
            f"vllm.entrypoints.openai.run_batch -i {export} -o results.jsonl --model MODEL`, "
            f"then `summarizer batch {again}`",
            err=True,
        )
    elif export is not None:
        typer.echo(f"summarizer: nothing left to ask: {export} not written", err=True)
    if tally.not_started:
        typer.echo(
            f"summarizer: {tally.not_started:,} article(s) have no answer in the imported "
            "file(s): --export them, or import their results",
            err=True,
        )
    typer.echo(f"summarizer: {tally.summary()}", err=True)
    return 1 if tally.failed or tally.not_started else 0


@contextlib.contextmanager
def _logs_above(console_file: Any) -> Iterator[None]:
    """Log lines to stderr go through ``console_file`` (rich's proxy while a live display
    runs), so that a line is printed above the display instead of tearing it."""
    stderr = sys.stderr
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and h.stream is stderr
    ]
    for handler in handlers:
        handler.setStream(console_file)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(stderr)


def _on_terminal() -> bool:
    """Whether stderr is a terminal, where a live view can redraw itself."""
    return sys.stderr.isatty()


@contextlib.contextmanager
def _live_view(enabled: bool) -> Iterator[LiveView | None]:
    """While the block runs, a live view of its steps and of the answer being written."""
    if not enabled:
        yield None
        return
    from summarizer.live import LiveView, watching

    with LiveView() as view, _logs_above(sys.stderr), watching(view):
        yield view


@contextlib.contextmanager
def _batch_progress() -> Iterator[Callable[[BatchTally], None]]:
    """A rich progress bar on stderr; log lines are printed above it, stdout is left alone."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("summarizing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TextColumn("{task.fields[tokens]} tokens"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        redirect_stdout=False,
    )
    task = progress.add_task("batch", total=None, failed=0, tokens="0")

    def show(tally: BatchTally) -> None:
        progress.update(
            task,
            total=tally.todo,
            completed=tally.done,
            failed=f"{tally.failed:,}",
            tokens=f"{tally.tokens:,}",
        )

    with progress, _logs_above(sys.stderr):  # sys.stderr is rich's proxy by now
        yield show


@cache_app.command("stats")
def cache_stats() -> None:
    """Where the result cache is, what it holds, and what its results cost to make."""

    def run() -> None:
        from summarizer.cache import CACHE_FILE, ResultCache
        from summarizer.settings import load_settings

        path = load_settings().cache_dir / CACHE_FILE
        typer.echo(f"path\t{path}")
        if not path.exists():
            typer.echo("results\t0")
            return
        with ResultCache(path) as cache:
            stats = cache.stats()
            if not cache.enabled:
                _fail(f"{path} is not usable; `summarizer cache clear` removes it", 1)
        typer.echo(f"results\t{stats.entries:,}")
        typer.echo(f"size\t{stats.size_bytes / 1e6:,.1f} MB")
        typer.echo(f"tokens\t{stats.tokens:,} (spent making them; a hit spends none)")
        typer.echo(f"oldest\t{stats.oldest or '-'}")
        typer.echo(f"newest\t{stats.newest or '-'}")
        for name, count in stats.models.items():
            typer.echo(f"model\t{count:,}\t{name}")

    _guard(run)


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every stored result (a file too corrupt to open is removed)."""

    def run() -> None:
        from summarizer.cache import CACHE_FILE, ResultCache, remove_cache_files
        from summarizer.settings import load_settings

        path = load_settings().cache_dir / CACHE_FILE
        if not path.exists():
            typer.echo(f"no result cache at {path}", err=True)
            return
        with ResultCache(path) as cache:
            count = cache.clear()
            if cache.enabled:
                typer.echo(f"removed {count:,} result(s) from {path}", err=True)
                return
            if not cache.corrupt:
                _fail(f"could not clear {path}: {cache.error}", 1)
        remove_cache_files(path)
        typer.echo(f"removed {path}, which was not a usable cache", err=True)

    _guard(run)


@app.command(epilog="Exit codes: 0 all found at their offsets, 1 something was not, 3 bad input.")
def verify(
    summary_file: Annotated[
        Path, typer.Argument(help="A saved result or summary (JSON).", metavar="SUMMARY.json")
    ],
    article_file: Annotated[
        str,
        typer.Argument(
            help="The article it summarizes, as given to summarize (text, HTML file or URL).",
            metavar="ARTICLE",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Re-check every quote, evidence passage and speaker of a saved summary against the article."""

    def run() -> int:
        import json

        from summarizer.article import read_article_bytes
        from summarizer.settings import load_settings
        from summarizer.sources import load_source
        from summarizer.verify import parse_saved, verify_summary

        settings = load_settings()
        limit = settings.max_input_bytes
        raw = read_article_bytes(str(summary_file), max_bytes=limit)
        summary, recorded_sha = parse_saved(raw.decode("utf-8", "replace"), str(summary_file))
        article = load_source(article_file, settings)  # offsets point into it, as given
        checks = verify_summary(summary, article.text)
        if recorded_sha is not None and recorded_sha != article.sha256:
            typer.echo(
                "summarizer: warning: this is not the article text the summary was made from "
                "(sha256 differs)",
                err=True,
            )
        if as_json:
            typer.echo(json.dumps([c.__dict__ for c in checks], indent=2))
        else:
            for c in checks:
                where = f"[{c.found[0]}:{c.found[1]}]" if c.found else "-"
                shown = c.text if len(c.text) <= 70 else c.text[:67] + "..."
                typer.echo(f"{c.status:<9} {where:<13} {c.path}: {shown!r}")
        bad = [c for c in checks if not c.ok]
        typer.echo(f"{len(checks) - len(bad)} of {len(checks)} found at their offsets", err=True)
        return 1 if bad else 0

    code = _guard(run)
    if code:
        raise typer.Exit(code)


HtmlOutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the page here (atomically), not stdout."),
]


@app.command(epilog="Exit codes: 0 page written, 3 unreadable input.")
def view(
    result_file: Annotated[
        Path,
        typer.Argument(
            help="A saved result (summarize's JSON) or one line of batch output.",
            metavar="RESULT.json",
        ),
    ],
    article_file: Annotated[
        str,
        typer.Argument(
            help="The article it summarizes, as given to summarize (text, HTML file or URL).",
            metavar="ARTICLE",
        ),
    ],
    output: HtmlOutputOpt = None,
) -> None:
    """Write the review page of a saved result: the article with each fact's evidence and
    each quote highlighted, re-checked as verify does (what fails is listed, not drawn)."""

    def run() -> None:
        from summarizer.article import read_article_bytes
        from summarizer.review import recheck, review_page
        from summarizer.settings import load_settings
        from summarizer.sources import load_source
        from summarizer.verify import parse_result

        settings = load_settings()
        raw = read_article_bytes(str(result_file), max_bytes=settings.max_input_bytes)
        result = parse_result(raw.decode("utf-8", "replace"), str(result_file))
        article = load_source(article_file, settings)
        _emit(review_page(result, article.text, recheck(result, article.text)), output)
        if output is not None:
            typer.echo(f"summarizer: review page written to {output}", err=True)

    _guard(run)


@app.command(epilog="Exit codes: 0 page written, 3 unreadable input.")
def report(
    results: Annotated[
        Path, typer.Argument(help="The JSONL file written by summarizer batch --out.")
    ],
    output: HtmlOutputOpt = None,
    pages: Annotated[
        Path | None,
        typer.Option(
            "--pages",
            help="Write a page per article and index.html into this folder, not one page "
            "(for a batch too large for one).",
        ),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option(
            "--fetch",
            help="Fetch the articles that came from URLs again, to show them (a page that "
            "changed since is flagged, not drawn).",
        ),
    ] = False,
) -> None:
    """Write one review page for a whole batch: an index of articles with ok, failed and
    warning counts, then each article's review. Articles are read again from their
    source files (URLs with --fetch) and re-checked as view does."""

    def run() -> None:
        from summarizer.review import read_results, report_page, report_pages
        from summarizer.settings import load_settings

        if pages is not None and output is not None:
            raise ConfigError("--output writes one page, --pages a folder of them: choose one")
        entries = read_results(results, load_settings(), fetch=fetch)
        title = f"Batch report: {results.name}"
        if pages is not None:
            try:
                pages.mkdir(parents=True, exist_ok=True)
                for name, page in report_pages(entries, title=title).items():
                    write_atomic(pages / name, page)
            except OSError as exc:
                raise ConfigError(f"cannot write {pages}: {exc.strerror or exc}") from None
            typer.echo(
                f"summarizer: {len(entries)} page(s) and index.html written to {pages}", err=True
            )
            return
        _emit(report_page(entries, title=title), output)
        if output is not None:
            failed = sum(1 for e in entries if e.result is None)
            typer.echo(
                f"summarizer: report of {len(entries)} article(s) ({failed} failed) "
                f"written to {output}",
                err=True,
            )

    _guard(run)


@app.command(
    "eval",
    epilog="Exit codes: 0 every article summarized, 1 an article failed, 2 usage, configuration "
    "or a bad checklist, 3 no usable input, 4 the endpoint could not be started.",
)
def eval_command(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Article files (text or HTML), directories of .txt/.md/.html files, or "
            "http(s) URLs, read as batch reads them; a NAME.checklist.json beside an article "
            "is scored too.",
            metavar="PATH",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON, not a table.")
    ] = False,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    prompt: PromptOpt = None,
    mode: ModeOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    on_ungrounded: OnUngroundedOpt = None,
    max_tokens: MaxTokensOpt = None,
    timeout: TimeoutOpt = None,
    article_timeout: ArticleTimeoutOpt = None,
    local_model: LocalModelOpt = None,
    gguf: GgufOpt = None,
    language: LanguageOpt = None,
    use_cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Reuse cached results (their tokens and latency are those of the stored run). "
            "Off by default: eval measures fresh calls.",
        ),
    ] = False,
) -> None:
    """Summarize each article and measure the result: schema-valid first answers, calls,
    grounding before and after re-asks, numbers not in the article, checklist recall of
    facts and quotes, tokens and latency (definitions: summarizer/eval.py)."""

    def run() -> int:
        import json

        from summarizer.eval import as_json as eval_json
        from summarizer.eval import format_table, run_eval

        settings = _settings(ctx.params, cache=use_cache)
        reports = run_eval(
            paths,
            settings,
            on_article=lambda r: typer.echo(f"summarizer: evaluated {r.id}", err=True),
        )
        if as_json:
            typer.echo(json.dumps(eval_json(reports), indent=2))
        else:
            sys.stdout.write(format_table(reports))
        return 0 if all(r.ok for r in reports) else 1

    code = _guard(run)
    if code:
        raise typer.Exit(code)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop a local server and
    remove temp files, as they do on Ctrl-C."""
    raise SystemExit(128 + signum)


def main() -> None:
    """Entry point of the ``summarizer`` script.

    Signals: SIGINT (Ctrl-C) stops the run with exit code 130, SIGTERM with 143;
    both run the same cleanup (a local server is stopped, temp files removed, and
    ``batch`` says how to resume). A process started with SIGINT ignored keeps
    ignoring it: that is how a POSIX shell starts a background job (``cmd &`` in a
    script, and what a CI runner or a scheduler may pass on), so that a Ctrl-C meant
    for the foreground does not stop it. Python installs no KeyboardInterrupt
    handler then, and neither does asyncio; this entry point does not override
    the choice. SIGTERM still stops such a run cleanly.
    """
    import signal

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app()
