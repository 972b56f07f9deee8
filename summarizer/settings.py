"""Every knob in one object: arguments, then environment variables, then defaults.

Environment variables are ``SUMMARIZER_<FIELD>``; the endpoint and key also
accept the ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` that other tools use.
With neither an endpoint nor a key, the embedded local model is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, NonNegativeFloat, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from summarizer.choices import LOCAL_SIZES, MODES, ON_UNGROUNDED, LocalSize, Mode, OnUngrounded
from summarizer.errors import ConfigError

__all__ = [
    "CONTEXT_TOKENS",
    "DEFAULT_BATCH_PRICES",
    "DEFAULT_HOSTED_MODEL",
    "DEFAULT_PRICES",
    "LOCAL_CONTEXT_TOKENS",
    "LOCAL_SIZES",
    "MODES",
    "ON_UNGROUNDED",
    "LocalSize",
    "Mode",
    "OnUngrounded",
    "Settings",
    "SettingsOptions",
    "load_settings",
]

# Mode, OnUngrounded, LocalSize and their MODES, ON_UNGROUNDED, LOCAL_SIZES live in
# summarizer/choices.py, which needs no pydantic: the CLI builds its choices from them.
DEFAULT_HOSTED_MODEL = "gpt-4o-mini"
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # USD per million (prompt, completion) tokens, OpenAI's list prices; `prices` overrides.
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
DEFAULT_BATCH_PRICES: dict[str, tuple[float, float]] = {
    # Through the provider's Batch API: half the live rates (OpenAI's list prices; halving
    # a float is exact). See Settings.batch_price.
    model: (prompt / 2, completion / 2)
    for model, (prompt, completion) in DEFAULT_PRICES.items()
}
LOCAL_CONTEXT_TOKENS = 8192
"""The window the embedded local model is served with (``--n_ctx`` in local.py)."""
CONTEXT_TOKENS: dict[str, int] = {
    # Context windows by model; `context_tokens` overrides. Unknown models: 8192.
    "gpt-4o-mini": 128_000,
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "qwen2.5-coder-0.5b-instruct": LOCAL_CONTEXT_TOKENS,
    "qwen2.5-coder-1.5b-instruct": LOCAL_CONTEXT_TOKENS,
}
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18 costs what gpt-4o-mini does


def _default_cache_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("summarizer")


class Settings(BaseSettings):
    """Configuration of one run; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="SUMMARIZER_", extra="forbid", validate_default=True, populate_by_name=True
    )

    model: str | None = Field(
        default=None,
        description=f"Model name sent to the endpoint (default {DEFAULT_HOSTED_MODEL}).",
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("base_url", "SUMMARIZER_BASE_URL", "OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("api_key", "SUMMARIZER_API_KEY", "OPENAI_API_KEY"),
        description="API key; never logged, cached or recorded.",
    )
    mode: Mode = Field(default="tools", description="How instructor asks for structure.")
    prompt: str = Field(default="summarize", description="Prompt NAME or NAME@VERSION.")
    prompt_version: int | None = Field(default=None, ge=1, description="Default: latest.")
    prompts_dir: Path | None = Field(default=None, description="Folder of prompt templates.")
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Model answers tried before giving up (re-asks)."
    )
    on_ungrounded: OnUngrounded = Field(
        default="drop",
        description="When attempts run out: drop ungrounded items with a warning, or fail.",
    )
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1500, ge=64, description="Cap on each answer's tokens.")
    timeout: float = Field(default=180.0, gt=0, description="Seconds for one HTTP request.")
    transport_retries: int = Field(
        default=4, ge=0, le=20, description="Extra tries on 429, 5xx, timeouts, dropped links."
    )
    max_retry_wait: float = Field(
        default=60.0, ge=0, description="Cap in seconds on one wait, Retry-After included."
    )
    article_timeout: float = Field(
        default=600.0,
        gt=0,
        description="Seconds for one article: every call, wait and re-ask; then it gives up.",
    )
    max_input_bytes: int = Field(
        default=2_000_000, ge=1, description="Larger articles are refused before any call."
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where fetched local models and the result cache are kept.",
    )
    cache: bool = Field(
        default=True, description="Reuse earlier results from cache_dir/results.sqlite3."
    )
    prices: dict[str, tuple[NonNegativeFloat, NonNegativeFloat]] = Field(
        default_factory=dict,
        description="USD per million [prompt, completion] tokens by model, over the built-in "
        "table; JSON in SUMMARIZER_PRICES.",
    )
    local_model: LocalSize = Field(
        default="1.5b", description="Local model used when no endpoint or key is set."
    )
    gguf: Path | None = Field(default=None, description="Serve this GGUF file instead.")
    startup_timeout: float = Field(
        default=180.0, gt=0, description="Seconds to wait for the local server to answer."
    )
    clean: bool = Field(
        default=True,
        description="Remove scraped boilerplate (repeated lines, banners, share buttons, "
        "cookie and JavaScript notices) before the model sees the text.",
    )
    context_tokens: int | None = Field(
        default=None,
        ge=256,
        description="The model's context window in tokens; a longer article is split into "
        "chunks. Default: by model (CONTEXT_TOKENS), else 8192.",
    )
    chunk_concurrency: int = Field(
        default=2, ge=1, le=64, description="Chunks of one long article summarized at once."
    )
    fetch_timeout: float = Field(
        default=30.0, gt=0, description="Seconds for fetching an article URL."
    )
    fetch_max_bytes: int = Field(
        default=5_000_000, ge=1, description="Larger pages are refused while downloading."
    )
    language: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z -]{1,39}$",
        description="Language of the headline, statements and questions (e.g. English, "
        "de); quotes stay as written. Default: the article's own.",
    )

    @property
    def resolved_context_tokens(self) -> int:
        """``context_tokens``, else the model's window from the table, else 8192."""
        if self.context_tokens is not None:
            return self.context_tokens
        if self.uses_local_model:
            return LOCAL_CONTEXT_TOKENS
        model = self.resolved_model
        return CONTEXT_TOKENS.get(model) or CONTEXT_TOKENS.get(_DATED.sub("", model)) or 8192

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def uses_local_model(self) -> bool:
        """No endpoint and no key: the program runs its own model."""
        return self.base_url is None and self.api_key is None

    @property
    def resolved_model(self) -> str:
        return self.model or DEFAULT_HOSTED_MODEL

    @property
    def endpoint_host(self) -> str:
        """Where requests go, for results and logs: a host, never a key or a path."""
        if not self.base_url:
            return "api.openai.com"
        parsed = urlparse(self.base_url)
        host = parsed.hostname or "unknown"
        return f"{host}:{parsed.port}" if parsed.port else host

    def price(self, model: str) -> tuple[float, float] | None:
        """USD per million (prompt, completion) tokens for ``model``; None when unknown."""
        table = {**DEFAULT_PRICES, **self.prices}
        return table.get(model) or table.get(_DATED.sub("", model))

    def batch_price(self, model: str) -> tuple[float, float] | None:
        """USD per million tokens through a Batch API; None when unknown.

        A model given in ``prices`` costs what it says there (the user's own rate is what
        they pay, live or not); else the built-in batch table, half the live list price.
        """
        undated = _DATED.sub("", model)
        given = self.prices.get(model) or self.prices.get(undated)
        if given is not None:
            return given
        return DEFAULT_BATCH_PRICES.get(model) or DEFAULT_BATCH_PRICES.get(undated)


class SettingsOptions(TypedDict, total=False):
    """Every :class:`Settings` field as a keyword argument, with the types it accepts.

    For ``summarize(text, **options: Unpack[SettingsOptions])``, so that a type checker
    sees ``timeout="3"`` or ``mode="xml"`` as the mistakes they are. ``None`` means
    "not given", as in :func:`load_settings`; strings are accepted where pydantic
    converts them (paths, the key). A test checks that the keys are the fields.
    """

    model: str | None
    base_url: str | None
    api_key: str | SecretStr | None
    mode: Mode | None
    prompt: str | None
    prompt_version: int | None
    prompts_dir: str | Path | None
    max_attempts: int | None
    on_ungrounded: OnUngrounded | None
    temperature: float | None
    max_tokens: int | None
    timeout: float | None
    transport_retries: int | None
    max_retry_wait: float | None
    article_timeout: float | None
    max_input_bytes: int | None
    cache_dir: str | Path | None
    cache: bool | None
    prices: dict[str, tuple[float, float]] | None
    local_model: LocalSize | None
    gguf: str | Path | None
    startup_timeout: float | None
    clean: bool | None
    context_tokens: int | None
    chunk_concurrency: int | None
    fetch_timeout: float | None
    fetch_max_bytes: int | None
    language: str | None


_LOADED: dict[Hashable, Settings] = {}
_MAX_LOADED = 32


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``overrides`` (None means not given), then env, then defaults.

    Reading the environment through pydantic-settings costs about 3 ms, which every
    ``summarize()`` call paid; the same arguments and the same environment give the
    same settings, so they are built once (a copy is returned each time).
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    key: Hashable = (tuple(sorted(given.items())), tuple(sorted(os.environ.items())))
    try:
        known = _LOADED.get(key)
    except TypeError:  # an unhashable value (a dict of prices): build it every time
        return _build_settings(given)
    if known is None:
        if len(_LOADED) >= _MAX_LOADED:
            _LOADED.clear()
        known = _LOADED[key] = _build_settings(given)
    return known.model_copy()


def _build_settings(given: dict[str, Any]) -> Settings:
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from None
