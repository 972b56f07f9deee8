"""The errors summarizer raises, split by whose fault they are.

    SummarizerError                 base; carries article id, attempts and usage
    ├── ConfigError         (2)     misuse: bad option, unknown prompt, no endpoint
    │   └── PromptLockError (2)     a released prompt's text changed
    ├── InputError          (3)     the article cannot be read or is not text
    ├── ModelError          (4)     the endpoint failed: HTTP error, timeout, refusal
    │   ├── AuthenticationError (4) 401/403: retrying will not help
    │   ├── OutputTruncatedError (4) finish_reason == "length": raise max tokens
    │   └── LocalModelError (4)     the embedded local server could not be used
    └── ValidationFailedError (5)   attempts ran out: schema or grounding not met

The CLI maps ``exit_code`` to the process exit status, so a script can tell a
typo from an outage from a model that would not stay grounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarizer.schema import Attempt, Usage

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "InputError",
    "LocalModelError",
    "ModelError",
    "OutputTruncatedError",
    "PromptLockError",
    "SummarizerError",
    "ValidationFailedError",
]


class SummarizerError(Exception):
    """Base of every error summarizer raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        article_id: str | None = None,
        attempts: list[Attempt] | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.article_id = article_id
        self.attempts = attempts or []
        self.usage = usage

    def __str__(self) -> str:
        return self.message


class ConfigError(SummarizerError):
    """A setting or argument is wrong; fix the call, not the network."""

    exit_code = 2


class PromptLockError(ConfigError):
    """A released prompt version no longer matches its locked hash."""


class InputError(SummarizerError):
    """The article could not be read, or is not usable text."""

    exit_code = 3


class ModelError(SummarizerError):
    """The model endpoint failed, after any transient retries."""

    exit_code = 4


class AuthenticationError(ModelError):
    """The endpoint refused the credentials (401/403)."""


class OutputTruncatedError(ModelError):
    """The answer hit max_tokens before the JSON was complete."""


class LocalModelError(ModelError):
    """The embedded local model could not be fetched, started or reached."""


class ValidationFailedError(SummarizerError):
    """Every attempt broke the schema or the grounding rules."""

    exit_code = 5
