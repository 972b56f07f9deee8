"""Versioned prompt templates: find them, check they were not edited, render them.

A template lives at ``prompts/<name>/v<N>.j2``: a front matter between ``---``
lines (``version`` and ``description``), then Jinja blocks ``system`` and
``user``. Its sha256 goes into every result. ``prompts/prompts.lock`` holds the
hash of every released version; loading a released version whose text changed
is an error, so a new wording has to be a new version.

The article is template *data*: it is passed as a variable and never becomes
template source, so ``{{ 7*7 }}`` in an article reaches the model as written.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from summarizer.errors import ConfigError, PromptLockError

__all__ = [
    "LOCK_FILE",
    "Prompt",
    "default_prompts_dir",
    "list_prompts",
    "load_prompt",
    "parse_ref",
    "read_lock",
]

LOCK_FILE = "prompts.lock"
_FILE = re.compile(r"^v(\d+)\.j2$")
_REF = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)(?:@v?(?P<version>\d+))?$")


@lru_cache(maxsize=1)
def default_prompts_dir() -> Path:
    """Installed wheels carry ``summarizer/_prompts``; a source checkout has ``prompts/``.

    Found once: resolving the path costs more than the rest of loading a prompt."""
    here = Path(__file__).resolve().parent
    packaged = here / "_prompts"
    return packaged if packaged.is_dir() else here.parent / "prompts"


def parse_ref(ref: str, version: int | None = None) -> tuple[str, int | None]:
    """``"summarize@2"`` -> ``("summarize", 2)``; ``"summarize"`` -> latest (None)."""
    match = _REF.match(ref.strip())
    if not match:
        raise ConfigError(f"bad prompt reference {ref!r}: expected NAME or NAME@VERSION")
    found = match["version"]
    if found is not None and version is not None and int(found) != version:
        raise ConfigError(f"prompt {ref!r} conflicts with prompt_version={version}")
    return match["name"], int(found) if found is not None else version


@dataclass(frozen=True)
class Prompt:
    """One released (or draft) version of one prompt."""

    name: str
    version: int
    description: str
    source: str
    path: Path
    locked: bool
    answer: str = "verbatim"
    """What the model answers: ``verbatim`` passages it copies (summarize@1), or ``cited``
    ids of sentences and quotations that the program found (summarize@2, passages.py).
    Set by the front matter's ``answer:`` line."""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    @property
    def _template(self) -> Any:
        return _compile(self.source)

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages for this prompt; variables are data, never template source."""
        template = self._template
        context = template.new_context(variables)
        messages = []
        for role in ("system", "user"):
            block = template.blocks.get(role)
            if block is None:
                raise ConfigError(f"prompt {self.ref} has no {{% block {role} %}}")
            content = "".join(block(context))
            messages.append({"role": role, "content": content})
        return messages


@lru_cache(maxsize=32)
def _compile(source: str) -> Any:
    """A template compiled once per text (2-3 ms each; every ``summarize()`` loads its prompt)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, autoescape=False)
    return env.from_string(_body(source))


def _split_front_matter(source: str, path: Path) -> tuple[dict[str, str], str]:
    lines = source.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}: a prompt starts with a '---' front matter")
    try:
        end = lines.index("---", 1)
    except ValueError:
        raise ConfigError(f"{path}: the front matter is not closed with '---'") from None
    meta = {}
    for line in lines[1:end]:
        if line.strip():
            key, sep, value = line.partition(":")
            if not sep:
                raise ConfigError(f"{path}: bad front matter line {line!r}")
            meta[key.strip()] = value.strip()
    return meta, "\n".join(lines[end + 1 :])


def _body(source: str) -> str:
    return _split_front_matter(source, Path("<prompt>"))[1]


def read_lock(prompts_dir: Path) -> dict[str, str]:
    path = prompts_dir / LOCK_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def _versions(prompts_dir: Path, name: str) -> dict[int, Path]:
    folder = prompts_dir / name
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = _FILE.match(path.name)
        if match:
            found[int(match[1])] = path
    return found


def load_prompt(ref: str, version: int | None = None, *, prompts_dir: Path | None = None) -> Prompt:
    """Load ``name@version`` (latest when no version), checked against the lock."""
    folder = prompts_dir or default_prompts_dir()
    name, wanted = parse_ref(ref, version)
    versions = _versions(folder, name)
    if not versions:
        known = ", ".join(p.name for p in sorted(folder.iterdir()) if p.is_dir()) or "none"
        raise ConfigError(f"no prompt named {name!r} in {folder} (known: {known})")
    number = max(versions) if wanted is None else wanted
    if number not in versions:
        have = ", ".join(f"{name}@{v}" for v in sorted(versions))
        raise ConfigError(f"no prompt {name}@{number} (have: {have})")
    path = versions[number]
    source = path.read_text("utf-8")
    meta, _ = _split_front_matter(source, path)
    if meta.get("version") != str(number):
        raise ConfigError(f"{path}: front matter says version {meta.get('version')!r}")
    lock = read_lock(folder)
    prompt = Prompt(
        name=name,
        version=number,
        description=meta.get("description", ""),
        source=source,
        path=path,
        locked=f"{name}@{number}" in lock,
        answer=meta.get("answer", "verbatim"),
    )
    if prompt.answer not in ("verbatim", "cited"):
        raise ConfigError(f"{path}: answer must be 'verbatim' or 'cited', not {prompt.answer!r}")
    expected = lock.get(prompt.ref)
    if expected is not None and expected != prompt.sha256:
        raise PromptLockError(
            f"prompt {prompt.ref} was edited after release (sha256 {prompt.sha256[:12]} "
            f"!= locked {expected[:12]}); put new wording in a new version"
        )
    return prompt


def list_prompts(prompts_dir: Path | None = None) -> list[Prompt]:
    """Every version of every prompt, oldest first."""
    folder = prompts_dir or default_prompts_dir()
    prompts = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for number in sorted(_versions(folder, sub.name)):
            prompts.append(load_prompt(f"{sub.name}@{number}", prompts_dir=folder))
    return prompts
