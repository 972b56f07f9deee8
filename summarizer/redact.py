"""Keeping API keys out of logs, errors and tracebacks: one filter for the whole process.

Every key this process uses is remembered here (:func:`add_secret`, :func:`guard_logs`)
and replaced by ``***`` wherever it could be printed: in log records of the
``summarizer``, ``openai``, ``instructor`` and ``httpx`` loggers (:data:`SECRETS` is
put on each of them, so it runs before any handler, yours included; the CLI also
puts it on its own handler), in text (:func:`redact_secrets`) and in exceptions and
everything they chain to (:func:`scrub_exception`). No SDK is imported, so the
command line can use it without paying for openai.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = [
    "GUARDED_LOGGERS",
    "MIN_SECRET",
    "REDACTED",
    "SECRETS",
    "SecretFilter",
    "add_secret",
    "guard_logs",
    "redact_secrets",
    "scrub_exception",
]

REDACTED = "***"
MIN_SECRET = 8
"""Shorter "keys" are placeholders (the local model's ``not-needed`` is one); redacting
them would garble the logs."""
GUARDED_LOGGERS = ("summarizer", "openai", "instructor", "httpx", "httpx2", "httpcore")


class SecretFilter(logging.Filter):
    """Replace every known API key in a log record (message, arguments, traceback) by ***."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in tuple(self.secrets):  # another thread may be adding a key
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's problem, not ours
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            scrub_exception(record.exc_info[1], self.redact)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


SECRETS = SecretFilter()
"""The process's one filter: every key it has used."""


def redact_secrets(text: str) -> str:
    """``text`` with every API key this process has used replaced by ``***``."""
    return SECRETS.redact(text)


def add_secret(secret: str | None) -> None:
    """Remember ``secret`` (a key shorter than :data:`MIN_SECRET` is a placeholder)."""
    if secret and len(secret) >= MIN_SECRET:
        SECRETS.secrets.add(secret)


_guarded = 0
"""How many loggers existed when the filter was last put on every one that needs it."""


def guard_logs(secret: str | None = None) -> None:
    """Remember ``secret`` and put the filter on every logger that could print it.

    A filter on a logger only sees records made by that very logger, not by its
    children, so it goes on each one; this runs again before each call to catch
    loggers that lazily imported modules created since.
    """
    global _guarded
    add_secret(secret)
    if not SECRETS.secrets:
        return
    known = logging.Logger.manager.loggerDict
    if len(known) == _guarded:  # no logger was created since the last pass (a hot path)
        return
    names = [n for n in list(known) if n.split(".")[0] in GUARDED_LOGGERS]
    for name in {*GUARDED_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if SECRETS not in logger.filters:
            logger.addFilter(SECRETS)
    _guarded = len(known)


def _scrub_value(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_value(v, redact) for v in value)
    return value


def scrub_exception(
    error: BaseException | None,
    redact: Callable[[str], str] = redact_secrets,
    seen: set[int] | None = None,
) -> None:
    """Redact secrets, in place, from an exception and everything it chains to.

    A traceback prints ``str()`` of each exception in the chain; the SDK's puts
    the response body there, which some servers fill with the key they refused.
    """
    seen = set() if seen is None else seen
    if error is None or id(error) in seen:
        return
    seen.add(id(error))
    try:
        error.args = tuple(_scrub_value(arg, redact) for arg in error.args)
        for name in ("message", "body"):
            value = getattr(error, name, None)
            if isinstance(value, (str, dict, list)):
                setattr(error, name, _scrub_value(value, redact))
    except (AttributeError, TypeError):  # a read-only attribute: leave it
        pass
    for failed in getattr(error, "failed_attempts", None) or []:
        scrub_exception(getattr(failed, "exception", None), redact, seen)
    scrub_exception(error.__cause__, redact, seen)
    scrub_exception(error.__context__, redact, seen)
