"""summarizer: verified structured summaries of news articles.

    >>> from summarizer import summarize
    >>> result = summarize(text, base_url="http://127.0.0.1:8080/v1")  # doctest: +SKIP
    >>> result.summary.source_quotes[0].span  # doctest: +SKIP
    Span(start=2731, end=2788, fragments=None)

Every name is imported on first use, so importing this package (and running
``summarizer --help``) does not pay for pydantic or the model SDKs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from summarizer.article import Article
    from summarizer.batch import (
        BatchItem,
        BatchResult,
        BatchTally,
        asummarize_many,
        discover,
        summarize_many,
    )
    from summarizer.errors import (
        AuthenticationError,
        ConfigError,
        InputError,
        LocalModelError,
        ModelError,
        OutputTruncatedError,
        PromptLockError,
        SummarizerError,
        ValidationFailedError,
    )
    from summarizer.pipeline import asummarize, summarize
    from summarizer.schema import (
        ArticleSummary,
        Attempt,
        KeyFact,
        Meta,
        Party,
        PromptInfo,
        SourceQuote,
        Span,
        SummaryResult,
        Usage,
    )
    from summarizer.settings import Settings, SettingsOptions, load_settings

__all__ = [
    "Article",
    "ArticleSummary",
    "Attempt",
    "AuthenticationError",
    "BatchItem",
    "BatchResult",
    "BatchTally",
    "ConfigError",
    "InputError",
    "KeyFact",
    "LocalModelError",
    "Meta",
    "ModelError",
    "OutputTruncatedError",
    "Party",
    "PromptInfo",
    "PromptLockError",
    "Settings",
    "SettingsOptions",
    "SourceQuote",
    "Span",
    "SummarizerError",
    "SummaryResult",
    "Usage",
    "ValidationFailedError",
    "asummarize",
    "asummarize_many",
    "discover",
    "load_settings",
    "summarize",
    "summarize_many",
]


_HOMES = {
    "Article": "article",
    "asummarize": "pipeline",
    **dict.fromkeys(
        ["BatchItem", "BatchResult", "BatchTally", "asummarize_many", "discover", "summarize_many"],
        "batch",
    ),
    "summarize": "pipeline",
    **dict.fromkeys(["Settings", "SettingsOptions", "load_settings"], "settings"),
    **dict.fromkeys(
        [n for n in __all__ if n.endswith("Error")],
        "errors",
    ),
}


def __getattr__(name: str) -> Any:
    """Import on first use: pydantic and the SDKs stay out of ``summarizer --help``."""
    if name not in __all__:
        raise AttributeError(f"module 'summarizer' has no attribute {name!r}")
    module = importlib.import_module(f"summarizer.{_HOMES.get(name, 'schema')}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
