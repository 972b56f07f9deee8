"""The benchmark command runs (in a tiny configuration; timings are not asserted, these
machines are noisy), and what its start-up figures rest on holds."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from summarizer import summarize
from summarizer.prompts import load_prompt
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI, tool_call_reply
from tests.helpers import ARTICLE, GOOD


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_one_command_prints_every_figure_beside_its_aim(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--quick", "--json"]) == 0
    out = capsys.readouterr().out
    figures = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    names = [f["name"] for f in figures]
    for start in ("overhead", "concurrency", "start-up: summarizer --help", "start-up: summ"):
        assert any(name.startswith(start) for name in names), start
    assert any(name.startswith("grounding") for name in names)
    assert any(name.startswith("prompt overhead") for name in names)
    table = out[out.index("| figure |") :].splitlines()
    assert table[0] == "| figure | median | aim | met? | how |"
    assert len(table) == 2 + len(figures)
    for figure in figures:
        if figure["median"] is not None:
            assert figure["median"] > 0 and figure["met"] in (True, False)


def test_the_grounding_benchmark_finds_the_quotes_it_copied(bench: ModuleType) -> None:
    text = bench.long_article()
    quotes = bench.grounding_quotes(text)
    assert len(text) == 100_000 and len(quotes) == 50
    figure = bench.bench_grounding(runs=1)
    assert figure.detail.endswith("40 of 50 found")


def test_prompt_overhead_is_the_system_prompt_and_the_tool_schema_as_sent(
    bench: ModuleType,
) -> None:
    texts = bench.prompt_overhead_texts(bench.request_body())
    system = load_prompt("summarize@1").render(article="", title=None)[0]["content"]
    assert texts["system"] == system
    tools = json.loads(texts["tools"])
    assert tools[0]["function"]["name"] == "ArticleSummary"
    assert "evidence_spans" not in texts["tools"]  # filled in by the program, never asked


def test_a_cache_hit_does_not_import_the_model_sdks(tmp_path: Path) -> None:
    """What keeps `summarizer summarize` fast when the result is cached."""
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, "utf-8")
    with FakeOpenAI() as fake:
        fake.queue(tool_call_reply(GOOD))
        summarize(ARTICLE, base_url=fake.base_url, model="fake-model")
        code = (
            "import sys\n"
            "from summarizer.cli import app\n"
            f"args = ['summarize', {str(article)!r}, '--base-url', {fake.base_url!r}, "
            "'--model', 'fake-model']\n"
            "try:\n    app(args)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('openai', 'instructor') if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        assert fake.calls == 1  # the second summary came from the cache
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert '"cached":true' in out.stdout.replace(" ", "")
