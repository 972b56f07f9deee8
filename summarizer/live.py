"""What a run says while it happens: its stages, and the answer as the model writes it.

A local model on a CPU takes a minute or more; a person at a terminal should see
from the first second what it is doing. Whoever wants to watch installs a
:class:`Watcher` for a block (:func:`watching`); the pipeline names its stages
(:func:`stage`) and the client, seeing a watcher, streams the answer and hands
over what has arrived so far. Nothing is watched by default, and nothing here
imports an SDK: :class:`LiveView` (rich, on stderr) is the command line's watcher.

The streamed answer is only shown. The result is checked once, whole, as when
nothing streams.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

__all__ = ["LiveView", "Watcher", "current", "stage", "watching"]


class Watcher(Protocol):
    """Told what a run is doing; each call must return quickly."""

    def stage(self, text: str) -> None:
        """A new step has begun (starting the local model, asking, re-asking...)."""

    def numbered(self, sentences: Mapping[int, str], quotes: Mapping[int, str]) -> None:
        """The article's numbered sentences and quotations, which a cited answer names by id."""

    def partial(self, answer: Mapping[str, Any], tokens: int) -> None:
        """The answer so far, parsed leniently, and how many chunks have arrived."""


_WATCHER: contextvars.ContextVar[Watcher | None] = contextvars.ContextVar(
    "summarizer_watcher", default=None
)


@contextlib.contextmanager
def watching(watcher: Watcher | None) -> Iterator[None]:
    """Tell ``watcher`` what runs in this block does (in this thread or task)."""
    token = _WATCHER.set(watcher)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def current() -> Watcher | None:
    return _WATCHER.get()


def stage(text: str) -> None:
    """Name the step that begins now, if anyone watches."""
    watcher = _WATCHER.get()
    if watcher is not None:
        watcher.stage(text)


class LiveView:
    """A rich live display on a terminal: each finished stage with its time, then the
    answer as it is written, with tokens per second.

    Use as a context manager around the run; stdout is never touched.
    """

    def __init__(self, file: IO[str] | None = None, clock: Any = time.monotonic) -> None:
        import sys

        from rich.console import Console

        self.console = Console(file=file or sys.stderr)
        self._clock = clock
        self._live: Live | None = None
        self._started = clock()
        self._stage: tuple[str, float] | None = None
        self._first_token: float | None = None
        self._first_tokens = 0
        self._tokens = 0
        self._answer: Mapping[str, Any] = {}
        self._sentences: Mapping[int, str] = {}
        self._quotes: Mapping[int, str] = {}
        self.tokens_per_s: float | None = None
        """Of the last answer: chunks per second since the first was shown (so the time
        the model spent reading the prompt is not counted)."""

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._live.__enter__()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self._finish_stage(failed=kind is not None)
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def done(self, text: str) -> None:
        """The last line, under the finished stages: what came of the run, and its time."""
        from rich.markup import escape

        took = self._clock() - self._started
        self.console.print(
            f"[bold]{escape(text)}[/] [dim]({took:.1f} s in all)[/]", highlight=False
        )

    # --- Watcher --------------------------------------------------------------------------

    def stage(self, text: str) -> None:
        self._finish_stage()
        self._stage = (text, self._clock())
        self._first_token = None
        self._tokens = 0
        self._answer = {}
        self.tokens_per_s = None

    def numbered(self, sentences: Mapping[int, str], quotes: Mapping[int, str]) -> None:
        self._sentences, self._quotes = sentences, quotes

    def partial(self, answer: Mapping[str, Any], tokens: int) -> None:
        now = self._clock()
        if self._first_token is None:
            self._first_token, self._first_tokens = now, tokens
        self._tokens = tokens
        self._answer = answer
        if now > self._first_token:
            self.tokens_per_s = (tokens - self._first_tokens) / (now - self._first_token)

    # --- drawing --------------------------------------------------------------------------

    def _finish_stage(self, *, failed: bool = False) -> None:
        from rich.markup import escape

        if self._stage is None:
            return
        text, began = self._stage
        took = self._clock() - began
        speed = ""
        if self._tokens and self.tokens_per_s is not None:
            speed = f", {self._tokens:,} tokens at {self.tokens_per_s:.1f}/s"
        mark = "[red]✗[/]" if failed else "[green]✓[/]"
        self.console.print(f"{mark} {escape(text)} [dim]({took:.1f} s{speed})[/]", highlight=False)
        self._stage = None

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        now = self._clock()
        if self._stage is None:
            return Text("")
        text, began = self._stage
        line = f"{text} · {now - began:.0f} s"
        if self._first_token is None and text.startswith("asking"):
            line += " · reading the prompt"
        elif self._first_token is not None:
            rate = f", {self.tokens_per_s:.1f}/s" if self.tokens_per_s else ""
            line += f" · {self._tokens:,} tokens{rate}"
        rows: list[RenderableType] = [
            Spinner("dots", text=Text(line, overflow="ellipsis", no_wrap=True))
        ]
        rows += [Text(f"  {row}", overflow="ellipsis", no_wrap=True) for row in self._rows()]
        return Group(*rows)

    def _rows(self) -> list[str]:
        """The answer so far, one line per item, in either answer shape."""
        answer = self._answer
        rows: list[str] = []
        headline = answer.get("headline")
        if isinstance(headline, str) and headline:
            rows.append(f"headline: {headline}")
        for fact in _items(answer.get("key_facts")):
            statement = fact.get("statement")
            if not isinstance(statement, str):
                ids = [i for i in _items_of(fact.get("sentences")) if isinstance(i, int)]
                statement = " ".join(self._sentences.get(i, f"[{i}]") for i in ids)
            if statement:
                rows.append(f"fact: {statement}")
        for quote in _items(answer.get("quotes") or answer.get("source_quotes")):
            said = quote.get("text")
            if not said and isinstance(quote.get("id"), int):
                said = self._quotes.get(quote["id"], f"Q{quote['id']}")
            if said:
                rows.append(f"quote: {said} ({quote.get('speaker') or 'speaker not named'})")
        for party in _items(answer.get("parties")):
            if party.get("name"):
                rows.append(f"party: {party['name']}: {party.get('role') or ''}")
        return rows[-14:]


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in _items_of(value) if isinstance(v, Mapping)]


def _items_of(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []
