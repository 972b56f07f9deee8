"""The values a choice setting can take, in one place and without pydantic.

:mod:`summarizer.settings` types its fields with these, the command line builds
its ``--mode``, ``--on-ungrounded`` and ``--local-model`` choices from them when
it is imported (so ``summarizer --help`` pays for no pydantic), and
:mod:`summarizer.llm` maps each mode name to an instructor mode.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["LOCAL_SIZES", "MODES", "ON_UNGROUNDED", "LocalSize", "Mode", "OnUngrounded"]

Mode = Literal["tools", "tools_strict", "json", "json_schema", "md_json"]
"""How instructor asks the model for structure (tool calls, or JSON in the answer)."""
OnUngrounded = Literal["drop", "fail"]
LocalSize = Literal["0.5b", "1.5b"]

MODES: tuple[Mode, ...] = get_args(Mode)
ON_UNGROUNDED: tuple[OnUngrounded, ...] = get_args(OnUngrounded)
LOCAL_SIZES: tuple[LocalSize, ...] = get_args(LocalSize)
