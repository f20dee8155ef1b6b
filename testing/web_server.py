"""A real Maestro web server (uvicorn on config.asgi, the launcher's command line) as a process of a
test: started with the environment and working directory the test chooses, optionally under a
command prefix (`ip netns exec NAME`), and stopped with SIGTERM or killed with SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from config.launcher import web_command

START_SECONDS = 90


class WebServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        env: dict[str, str],
        cwd: Path,
        log: Path,
        prefix: list[str] | None = None,
    ) -> None:
        self.url = f"http://{host}:{port}"
        self.argv = [
            *(prefix or []),
            *web_command(host=host, port=port, access_log=False, python=sys.executable),
        ]
        self.env, self.cwd, self.log = env, cwd, log
        self.process: subprocess.Popen | None = None

    def start(self) -> WebServer:
        """Start the process; `wait_until_up` waits for its first answer."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                self.argv, cwd=self.cwd, env=self.env, stdout=handle, stderr=handle
            )
        return self

    def wait_until_up(self, *, client: httpx.Client | None = None) -> WebServer:
        """Wait until the server answers `client` (which may route through another network)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.running_process.poll() is not None:
                raise AssertionError(
                    f"the web server exited with {self.running_process.returncode}; see {self.log}"
                )
            try:
                (client or httpx).get(f"{self.url}/v1/models", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"the web server did not answer in {START_SECONDS} s; see {self.log}")

    @property
    def running_process(self) -> subprocess.Popen:
        if self.process is None:
            raise RuntimeError("the web server has not been started")
        return self.process

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, nothing drained."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM as a process manager sends it; SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
