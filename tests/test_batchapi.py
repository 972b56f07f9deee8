"""Many articles through the Batch API (a fake of it) and through export/import files.

The server is tests/fake_batch_api.py, written by us; its chat answers are the
hand-written ones of tests/helpers.py. Nothing here waits: polls and retries sleep
through an injected function.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from summarizer import summarize
from summarizer.batch import BatchItem
from summarizer.batchapi import WAVE, BatchCancelledError, BatchRun, custom_id, state_path
from summarizer.cli import app
from summarizer.llm import BatchAPI
from summarizer.settings import Settings, load_settings
from tests.fake_batch_api import FakeBatchAPI, Plan
from tests.fake_openai import FakeOpenAI, Reply, tool_call_reply
from tests.helpers import ARTICLE, GOOD, INVENTED

KEY = "sk-test-SECRET-0123456789abcdef"  # not a key: the tests check it is written nowhere
runner = CliRunner()


def dispatch(n: int) -> str:
    return f"Dispatch {n}.\n\n{ARTICLE}"


def items(count: int) -> list[BatchItem]:
    return [BatchItem(id=f"a{n}", text=dispatch(n)) for n in range(count)]


def number(body: dict[str, Any]) -> int:
    found = re.search(r"Dispatch (\d+)\.", json.dumps(body["messages"]))
    assert found, "not one of this module's articles"
    return int(found[1])


def cited(body: dict[str, Any]) -> dict[str, Any]:
    """A summarize@2 answer: the ids the article's numbered text gives the lead and quote."""
    shown = body["messages"][1]["content"]
    lead = re.search(r"\[(\d+)\] Rockets hit", shown)
    quote = re.search(r"\[Q(\d+)\]", shown)
    assert lead and quote, shown
    return {
        "headline": "Rocket attack kills eight in Kabul",
        "key_facts": [{"sentences": [int(lead[1])]}] * 3,
        "quotes": [{"id": int(quote[1]), "speaker": "Farid Ahmad Amiri"}],
        "parties": [{"name": "Farid Ahmad Amiri", "kind": "person", "role": "bakery owner"}],
        "open_questions": ["Who fired the rockets?"],
    }


def good(body: dict[str, Any]) -> Reply:
    if body["tools"][0]["function"]["name"] == "CitedAnswer":
        return tool_call_reply(cited(body), name="CitedAnswer")
    return tool_call_reply(GOOD)


def settings_for(base_url: str, **more: Any) -> Settings:
    return load_settings(
        base_url=base_url,
        api_key=KEY,
        model="gpt-4o-mini",
        cache=False,
        max_retry_wait=0,
        **more,
    )


async def no_sleep(seconds: float) -> None:
    pass


def run(
    fake: FakeBatchAPI,
    out: Path,
    articles: list[BatchItem],
    *,
    sleep: Callable[[float], Any] = no_sleep,
    statuses: list[str] | None = None,
    wave: int = WAVE,
    **more: Any,
) -> BatchRun:
    settings = settings_for(fake.base_url, **more)

    async def go() -> BatchRun:
        api = BatchAPI(settings, sleep=no_sleep)
        batch = BatchRun(
            settings,
            out=out,
            via="batch-api",
            api=api,
            sleep=sleep,
            poll=(0.0, 0.0),
            on_batch=(lambda s: statuses.append(str(s.status))) if statuses is not None else None,
            wave=wave,
        )
        try:
            await batch.run(articles)
        finally:
            await api.close()
        return batch

    return asyncio.run(go())


def lines(path: Path) -> list[dict[str, Any]]:
    raw = path.read_text("utf-8")
    assert raw == "" or raw.endswith("\n")
    return [json.loads(line) for line in raw.splitlines()]


def by_id(path: Path) -> dict[str, dict[str, Any]]:
    written = lines(path)
    assert len({line["id"] for line in written}) == len(written), "an article written twice"
    return {line["id"]: line for line in written}


def request_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# --- one round, and what it sends -----------------------------------------------------------


@pytest.mark.parametrize("prompt", ["summarize@1", "summarize@2"])
def test_the_same_answers_live_and_through_the_batch_api_give_the_same_summary(
    prompt: str, tmp_path: Path
) -> None:
    with FakeOpenAI() as live_fake:
        live_fake.responder = lambda request: good(request["body"])
        live = summarize(dispatch(0), settings=settings_for(live_fake.base_url, prompt=prompt))
        [sent] = live_fake.requests

    out = tmp_path / "r.jsonl"
    statuses: list[str] = []
    with FakeBatchAPI(good) as fake:
        run(fake, out, items(3), statuses=statuses, prompt=prompt)
        assert fake.calls("POST", "/v1/files") == 1 and len(fake.batches) == 1
        assert fake.calls("GET", "/v1/files/") == 1  # the output file; no error file
    assert statuses == ["validating", "validating", "in_progress", "finalizing", "completed"]

    # Each line of the request file is what the live path POSTs, under ARTICLE_ID#SHA.
    [request] = [
        r for r in request_lines(Path(f"{out}.requests-1.jsonl")) if r["custom_id"][:3] == "a0#"
    ]
    assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
    assert request["body"] == sent["body"]
    assert request["custom_id"] == custom_id("a0", sent["body"])

    written = by_id(out)
    assert sorted(written) == ["a0", "a1", "a2"] and all(w["ok"] for w in written.values())
    batch = written["a0"]["result"]
    assert batch["summary"] == live.summary.model_dump(mode="json")
    made = {"latency_s", "created_at", "via", "cost_usd", "endpoint", "attempts"}
    live_meta = live.meta.model_dump(mode="json")
    assert {k for k in batch["meta"] if batch["meta"][k] != live_meta[k]} <= made
    assert batch["meta"]["via"] == "batch-api" and live_meta["via"] is None
    assert [a["kind"] for a in batch["meta"]["attempts"]] == ["ok"]
    assert (
        batch["meta"]["usage"]
        == live_meta["usage"]
        == {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
        }
    )
    # Half the live price: gpt-4o-mini at 0.075 and 0.30 USD per million tokens.
    assert live_meta["cost_usd"] == pytest.approx((100 * 0.15 + 50 * 0.60) / 1e6)
    assert batch["meta"]["cost_usd"] == pytest.approx(live_meta["cost_usd"] / 2)


def test_the_batch_price_is_half_the_live_one_unless_given() -> None:
    settings = load_settings()
    assert settings.batch_price("gpt-4o-mini") == (0.075, 0.30)
    assert settings.batch_price("gpt-4o-2024-08-06") == (1.25, 5.00)
    assert settings.batch_price("my-vllm-model") is None
    assert load_settings(prices={"my-model": (1.0, 2.0)}).batch_price("my-model") == (1.0, 2.0)


def test_a_re_ask_goes_in_the_next_round(tmp_path: Path) -> None:
    asked: Counter[int] = Counter()

    def answer(body: dict[str, Any]) -> Reply:
        asked[number(body)] += 1
        if number(body) == 1 and asked[1] == 1:
            return tool_call_reply(INVENTED)  # a quote the article does not have
        return good(body)

    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(answer) as fake:
        run(fake, out, items(3))
        assert len(fake.batches) == 2
        second = request_lines(Path(f"{out}.requests-2.jsonl"))
    assert [r["custom_id"][:3] for r in second] == ["a1#"]
    roles = [m["role"] for m in second[0]["body"]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]  # the answer, then the note
    written = by_id(out)
    meta = written["a1"]["result"]["meta"]
    assert [a["kind"] for a in meta["attempts"]] == ["grounding", "ok"]
    assert meta["usage"]["total_tokens"] == 300  # both rounds counted
    assert [a["kind"] for a in written["a0"]["result"]["meta"]["attempts"]] == ["ok"]


# --- lines and batches that fail ------------------------------------------------------------


def test_failed_lines_and_the_error_file_are_retried_next_round(tmp_path: Path) -> None:
    asked: Counter[int] = Counter()

    def answer(body: dict[str, Any]) -> Reply:
        n = number(body)
        asked[n] += 1
        if n == 1 and asked[n] == 1:
            return Reply(500, {"error": {"message": "server had an error"}})
        if n == 2 and asked[n] == 1:
            return Reply(drop=True)  # in the error file, no response
        if n == 3:
            return Reply(400, {"error": {"message": "bad request: no such tool"}})
        return good(body)

    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(answer) as fake:
        run(fake, out, items(4))
        assert len(fake.batches) == 2
        assert fake.batches["batch_1"].error_file_id is not None
    written = by_id(out)
    assert [a["kind"] for a in written["a1"]["result"]["meta"]["attempts"]] == ["transport", "ok"]
    assert [a["kind"] for a in written["a2"]["result"]["meta"]["attempts"]] == ["transport", "ok"]
    assert "server_error" in written["a2"]["result"]["meta"]["attempts"][0]["error"]
    assert written["a0"]["ok"] and not written["a3"]["ok"]
    assert "HTTP 400" in written["a3"]["error"]["message"]
    assert asked[3] == 1  # a 400 is not tried again


def test_a_line_that_keeps_failing_is_given_up_after_transport_retries(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        if number(body) == 0:
            return Reply(503, {"error": {"message": "overloaded"}})
        return good(body)

    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(answer) as fake:
        run(fake, out, items(2), transport_retries=2)
        assert len(fake.batches) == 3  # 1 + 2 retries, then no more
    written = by_id(out)
    assert written["a1"]["ok"] and not written["a0"]["ok"]
    assert "HTTP 503" in written["a0"]["error"]["message"]
    assert [a["kind"] for a in written["a0"]["error"]["attempts"]] == ["transport"] * 3


def test_expired_with_partial_output_keeps_what_finished(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(good) as fake:
        fake.plans.append(Plan(["validating", "in_progress", "expired"], answered=2))
        run(fake, out, items(4))
        assert [b.status for b in fake.batches.values()] == ["expired", "completed"]
        assert len(request_lines(Path(f"{out}.requests-2.jsonl"))) == 2  # only the rest
        assert sorted(Counter(fake.answered).values()) == [1, 1, 1, 1]  # each asked once
    written = by_id(out)
    assert len(written) == 4 and all(w["ok"] for w in written.values())
    kinds = sorted(
        tuple(a["kind"] for a in w["result"]["meta"]["attempts"]) for w in written.values()
    )
    assert kinds == [("ok",), ("ok",), ("transport", "ok"), ("transport", "ok")]


def test_a_failed_batch_is_submitted_again(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(good) as fake:
        fake.plans.append(
            Plan(["validating", "failed"], errors=[{"code": "x", "message": "token limit"}])
        )
        run(fake, out, items(2))
        assert [b.status for b in fake.batches.values()] == ["failed", "completed"]
    state = json.loads(state_path(out).read_text())
    assert state["submissions"][0]["errors"] == ["token limit"]
    assert all(w["ok"] for w in by_id(out).values())


def test_a_429_while_polling_is_waited_out(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(good) as fake:
        fake.throttle = 3
        run(fake, out, items(2))
        retrieves = [r for r in fake.requests if r["method"] == "GET" and "/batches/" in r["path"]]
        assert len(retrieves) == 3 + 4  # three refused, then the four statuses
        assert len(fake.batches) == 1
    assert len(by_id(out)) == 2


# --- killed, cancelled, resumed -------------------------------------------------------------


class Killed(BaseException):
    """What a kill is to the code under test: nothing after it runs."""


@pytest.mark.parametrize(("wave", "sent"), [(WAVE, 1), (2, 3)])
def test_killed_while_polling_then_rerun_attaches_and_writes_no_key(
    tmp_path: Path, wave: int, sent: int
) -> None:
    """``sent``: batches made before the first poll (in waves of 2: one a wave)."""
    out = tmp_path / "r.jsonl"

    async def killed(seconds: float) -> None:
        raise Killed

    with FakeBatchAPI(good) as fake:
        with pytest.raises(Killed):
            run(fake, out, items(5), sleep=killed, wave=wave)
        assert not out.read_text()  # nothing written yet
        state = json.loads(state_path(out).read_text())
        assert [s["batch_id"] for s in state["submissions"]] == [
            f"batch_{n}" for n in range(1, sent + 1)
        ]

        shown = runner.invoke(app, ["batch", "status", str(out)], catch_exceptions=False)
        assert shown.exit_code == 0, shown.output
        assert "batch_1" in shown.stdout and f"0/{5 if sent == 1 else 2} done" in shown.stdout

        run(fake, out, items(5), wave=wave)
        assert len(fake.batches) == sent and fake.calls("POST", "/v1/files") == sent
        assert sorted(Counter(fake.answered).values()) == [1] * 5
        run(fake, out, items(5), wave=wave)  # all done: nothing sent
        assert len(fake.batches) == sent
    assert sorted(by_id(out)) == [f"a{n}" for n in range(5)]
    files = list(tmp_path.iterdir())
    assert {f.name for f in files} >= {
        "r.jsonl",
        "r.jsonl.batch.json",
        "r.jsonl.responses.jsonl",
        "r.jsonl.requests-1.jsonl",
    }
    for path in files:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path.name
            assert b"Bearer" not in path.read_bytes(), path.name


def test_killed_after_the_batch_was_made_but_before_it_was_saved(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(good) as fake:
        with pytest.raises(Killed):

            async def killed(seconds: float) -> None:
                raise Killed

            run(fake, out, items(2), sleep=killed)
        state = json.loads(state_path(out).read_text())
        state["submissions"][0]["batch_id"] = None  # as if killed before it was recorded
        state_path(out).write_text(json.dumps(state))
        run(fake, out, items(2))
        assert len(fake.batches) == 1  # found again by its input file
    assert len(by_id(out)) == 2


def test_a_cancelled_batch_stops_the_run_and_a_rerun_submits_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(good) as fake:
        fake.plans.append(Plan(["validating", "in_progress", "cancelled"], answered=1))
        with pytest.raises(BatchCancelledError, match="1 answer"):
            run(fake, out, items(3))
        run(fake, out, items(3))
        assert len(fake.batches) == 2
        assert len(request_lines(Path(f"{out}.requests-2.jsonl"))) == 2
    assert len(by_id(out)) == 3


def test_batch_cancel_then_rerun(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"

    async def killed(seconds: float) -> None:
        raise Killed

    with FakeBatchAPI(good) as fake:
        with pytest.raises(Killed):
            run(fake, out, items(2), sleep=killed)
        env = {"OPENAI_API_KEY": KEY}
        cancelled = runner.invoke(
            app,
            ["batch", "cancel", str(out), "--base-url", fake.base_url],
            env=env,
            catch_exceptions=False,
        )
        assert cancelled.exit_code == 0, cancelled.output
        assert "cancelling" in cancelled.stdout
        assert fake.calls("POST", "/v1/batches/batch_1/cancel") == 1
        run(fake, out, items(2))  # cancelled on purpose: the rest is submitted, no stop
        assert [b.status for b in fake.batches.values()] == ["cancelled", "completed"]
    assert len(by_id(out)) == 2


# --- offline engines: --export, then --import ------------------------------------------------


def engine(requests: Path, results: Path, answer: Callable[[dict[str, Any]], Reply]) -> None:
    """What vLLM's run_batch does with a request file: one output line per request."""
    out = []
    for line in request_lines(requests):
        reply = answer(line["body"])
        out.append(
            {
                "id": "vllm-1",
                "custom_id": line["custom_id"],
                "response": {"status_code": reply.status, "request_id": "x", "body": reply.body},
                "error": None,
            }
        )
    results.write_text("".join(json.dumps(o) + "\n" for o in out))


def test_export_then_import_round_trip_with_a_re_ask(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(3):
        (folder / f"d{n}.txt").write_text(dispatch(n))
    out, first, second = tmp_path / "r.jsonl", tmp_path / "req1.jsonl", tmp_path / "req2.jsonl"

    exported = runner.invoke(
        app,
        ["batch", str(folder), "--export", str(first), "--out", str(out)],
        catch_exceptions=False,
    )
    assert exported.exit_code == 0, exported.output
    assert "vllm.entrypoints.openai.run_batch" in exported.output
    assert len(request_lines(first)) == 3 and not out.read_text()

    asked: Counter[int] = Counter()

    def answer(body: dict[str, Any]) -> Reply:
        asked[number(body)] += 1
        return tool_call_reply(INVENTED if number(body) == 2 and asked[2] == 1 else GOOD)

    engine(first, tmp_path / "res1.jsonl", answer)
    imported = runner.invoke(
        app,
        [
            *["batch", str(folder), "--import", str(tmp_path / "res1.jsonl")],
            *["--export", str(second), "--out", str(out)],
        ],
        catch_exceptions=False,
    )
    assert imported.exit_code == 0, imported.output
    assert sorted(Path(k).name for k in by_id(out)) == ["d0.txt", "d1.txt"]
    [reask] = request_lines(second)
    assert [m["role"] for m in reask["body"]["messages"]][-2:] == ["assistant", "user"]

    engine(second, tmp_path / "res2.jsonl", answer)
    done = runner.invoke(
        app,
        ["batch", str(folder), "--import", str(tmp_path / "res2.jsonl"), "--out", str(out)],
        catch_exceptions=False,
    )
    assert done.exit_code == 0, done.output
    written = by_id(out)
    assert len(written) == 3 and all(w["ok"] for w in written.values())
    last = written[str(folder / "d2.txt")]["result"]["meta"]
    assert last["via"] == "import"
    assert [a["kind"] for a in last["attempts"]] == ["grounding", "ok"]
    assert asked == {0: 1, 1: 1, 2: 2}


def test_import_with_no_engine_for_the_re_ask_ends_as_attempts_running_out(tmp_path: Path) -> None:
    article = tmp_path / "d2.txt"
    article.write_text(dispatch(2))
    out, requests = tmp_path / "r.jsonl", tmp_path / "req.jsonl"
    runner.invoke(app, ["batch", str(article), "--export", str(requests)], catch_exceptions=False)
    engine(requests, tmp_path / "res.jsonl", lambda body: tool_call_reply(INVENTED))
    done = runner.invoke(
        app,
        ["batch", str(article), "--import", str(tmp_path / "res.jsonl"), "--out", str(out)],
        catch_exceptions=False,
    )
    assert done.exit_code == 0, done.output
    [line] = lines(out)
    meta = line["result"]["meta"]
    assert line["ok"] and any("kept the best" in w for w in meta["warnings"])
    assert [a["kind"] for a in meta["attempts"]] == ["grounding", "fatal"]
    assert "--reask live" in meta["attempts"][1]["error"]


def test_import_leaves_articles_with_no_answer_not_started(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(2):
        (folder / f"d{n}.txt").write_text(dispatch(n))
    out, requests = tmp_path / "r.jsonl", tmp_path / "req.jsonl"
    runner.invoke(app, ["batch", str(folder), "--export", str(requests)], catch_exceptions=False)
    engine(requests, tmp_path / "res.jsonl", good)
    first = next(r["custom_id"] for r in request_lines(requests) if number(r["body"]) == 0)
    res = (tmp_path / "res.jsonl").read_text().splitlines()
    kept = [line for line in res if json.loads(line)["custom_id"] == first]
    (tmp_path / "res.jsonl").write_text(kept[0] + "\n")  # only the first article's answer
    done = runner.invoke(
        app,
        ["batch", str(folder), "--import", str(tmp_path / "res.jsonl"), "--out", str(out)],
        catch_exceptions=False,
    )
    assert done.exit_code == 1
    assert "1 article(s) have no answer" in done.output
    assert [Path(line["id"]).name for line in lines(out)] == ["d0.txt"]


def test_batch_api_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(2):
        (folder / f"d{n}.txt").write_text(dispatch(n))
    out = tmp_path / "r.jsonl"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeBatchAPI(good) as fake:
        fake.plans.append(Plan(["completed"]))  # no polling wait in a CLI test
        done = runner.invoke(
            app,
            ["batch", str(folder), "--out", str(out), "--batch-api", "--base-url", fake.base_url],
            catch_exceptions=False,
        )
    assert done.exit_code == 0, done.output
    assert "batch batch_1 (round 1): completed, 2 done" in done.output
    assert all(line["ok"] for line in lines(out))
    assert KEY not in done.output


def test_batch_api_needs_an_endpoint(tmp_path: Path) -> None:
    (tmp_path / "d0.txt").write_text(dispatch(0))
    done = runner.invoke(
        app, ["batch", str(tmp_path), "--out", str(tmp_path / "r.jsonl"), "--batch-api"]
    )
    assert done.exit_code == 2
    assert "--batch-api needs an endpoint" in done.output


def test_import_with_reask_live_sends_only_the_re_ask_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    for n in range(2):
        (folder / f"d{n}.txt").write_text(dispatch(n))
    out, requests = tmp_path / "r.jsonl", tmp_path / "req.jsonl"
    runner.invoke(app, ["batch", str(folder), "--export", str(requests)], catch_exceptions=False)
    engine(
        requests,
        tmp_path / "res.jsonl",
        lambda body: tool_call_reply(INVENTED if number(body) == 1 else GOOD),
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI() as live:
        live.responder = lambda request: good(request["body"])
        done = runner.invoke(
            app,
            [
                *["batch", str(folder), "--import", str(tmp_path / "res.jsonl")],
                *["--out", str(out), "--reask", "live", "--base-url", live.base_url],
                *["--model", "gpt-4o-mini"],
            ],
            catch_exceptions=False,
        )
        assert done.exit_code == 0, done.output
        assert live.calls == 1  # the re-ask of d1, and nothing else
        assert [m["role"] for m in live.requests[0]["body"]["messages"]][-2:] == [
            "assistant",
            "user",
        ]
    meta = by_id(out)[str(folder / "d1.txt")]["result"]["meta"]
    assert [a["kind"] for a in meta["attempts"]] == ["grounding", "ok"]
    # The imported answer at the batch price, the live re-ask at the live one.
    assert meta["cost_usd"] == pytest.approx(
        (100 * 0.075 + 50 * 0.30 + 100 * 0.15 + 50 * 0.60) / 1e6
    )


# --- a folder larger than a wave --------------------------------------------------------------


def test_a_run_larger_than_a_wave_holds_one_wave_of_flows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 articles in waves of 2: each wave's requests are submitted and the wave let go;
    the next pass replays the flows from the stored answers and asks what is left."""
    import summarizer.batchapi as batchapi

    alive, most = 0, 0
    live_arun = batchapi.arun

    async def counted(job: Any, llm: Any) -> Any:
        nonlocal alive, most
        alive += 1
        most = max(most, alive)
        try:
            return await live_arun(job, llm)
        finally:
            alive -= 1

    monkeypatch.setattr(batchapi, "arun", counted)
    asked: Counter[int] = Counter()

    def answer(body: dict[str, Any]) -> Reply:
        n = number(body)
        asked[n] += 1
        if n == 1 and asked[n] == 1:
            return tool_call_reply(INVENTED)  # re-asked in the next pass
        if n == 2 and asked[n] == 1:
            return Reply(500, {"error": {"message": "server had an error"}})  # sent again
        if n == 3:
            return Reply(400, {"error": {"message": "bad request: no such tool"}})
        return good(body)

    out = tmp_path / "r.jsonl"
    with FakeBatchAPI(answer) as fake:
        run(fake, out, items(5), wave=2)
        batches = len(fake.batches)
    assert most <= 2  # never more than a wave of flows at once
    # A batch a wave: pass 1 asks a0-a4 in three; pass 2 replays them (a0 and a4 end, a3's
    # 400 ends it) and sends a1's re-ask and a2's retry, each with its wave.
    assert batches == 5
    written = by_id(out)
    assert sorted(written) == ["a0", "a1", "a2", "a3", "a4"]
    assert len(lines(out)) == 5  # each article exactly once
    assert all(written[a]["ok"] for a in ("a0", "a1", "a2", "a4"))
    assert "HTTP 400" in written["a3"]["error"]["message"] and asked[3] == 1
    a1 = written["a1"]["result"]["meta"]
    assert [a["kind"] for a in a1["attempts"]] == ["grounding", "ok"]
    assert a1["usage"]["total_tokens"] == 300  # both passes counted
    state = json.loads(state_path(out).read_text())
    assert sorted({s["round"] for s in state["submissions"]}) == [1, 2]


def test_a_custom_id_fits_every_batch_service() -> None:
    body = {"model": "m", "messages": []}
    assert custom_id("a0", body).startswith("a0#")
    long = custom_id("examples/dev/wikinews-homeopathy-manslaughter-trial.txt", body)
    odd = custom_id("Zeitung über Wahlen", body)
    for cid in (long, odd):
        assert re.fullmatch(r"id-[0-9a-f]{24}#[0-9a-f]{16}", cid), cid
    assert custom_id("Zeitung über Wahlen", body) == odd  # the same on every run
    assert custom_id("Zeitung über Wahl", body) != odd


def test_options_of_the_live_batch_say_they_do_nothing_here(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "d0.txt").write_text(dispatch(0))
    export = ["batch", str(folder), "--export", str(tmp_path / "req.jsonl"), "--model", "m"]
    quiet = runner.invoke(app, export, catch_exceptions=False)
    loud = runner.invoke(app, [*export, "-j", "4", "--budget-tokens", "100"])
    assert quiet.exit_code == loud.exit_code == 0, loud.output
    assert "no effect" not in quiet.stderr
    assert "-j has no effect" in loud.stderr and "--budget-tokens has no effect" in loud.stderr
