"""Start, reset and stop a MiniStack AWS emulator for tests.

The emulator runs from its own virtual environment (``.tools/ministack``) with a
clean, minimal environment: Lambda handlers run as its child processes and inherit
that environment, so anything leaking in from the test process (PYTHONPATH, a
virtualenv, real AWS credentials) would change what the functions see. It gets its
own process group, so ``stop()`` also ends the handler workers it spawned.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from faasflow.aws import DUMMY_CREDENTIALS

REGION = "us-east-1"


class MiniStackError(RuntimeError):
    """The emulator did not start, or a control request to it failed."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the emulator binds it moments later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MiniStack:
    """One emulator process on 127.0.0.1; usable as a context manager."""

    def __init__(
        self,
        executable: Path | None = None,
        *,
        log_dir: Path | None = None,
        warm_ttl_s: int = 120,
        startup_timeout_s: float = 60.0,
        log_level: str = "INFO",
        extra_env: dict[str, str] | None = None,
        runtime: str | None = None,
    ) -> None:
        from faasflow.runtimes import DEFAULT_RUNTIME, check_runtime

        self.runtime = check_runtime(runtime or DEFAULT_RUNTIME)  # the Lambda runtime its handlers run on
        self._executable = executable
        self._log_dir = log_dir
        self._owns_dir = log_dir is None
        self.warm_ttl_s = warm_ttl_s
        self.startup_timeout_s = startup_timeout_s
        self.log_level = log_level
        self.extra_env = dict(extra_env or {})
        self.port: int | None = None
        self.region = REGION
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise MiniStackError("MiniStack is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            raise MiniStackError("MiniStack is not started")
        return self._workdir / "ministack.log"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, port: int | None = None) -> MiniStack:
        """Launch the emulator and wait until ``/_ministack/health`` answers."""
        if self.running():
            return self
        executable = self._executable
        if executable is None:
            from faasflow.deploy.tools import ministack_executable

            executable = ministack_executable(self.runtime)
        self._workdir = self._log_dir or Path(tempfile.mkdtemp(prefix="faasflow-ministack-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        # A port picked here can be taken before the emulator binds it; pick again then.
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            self.port = port if port is not None else free_port()
            self._spawn(executable)
            try:
                self._wait_healthy()
                return self
            except MiniStackError:
                exited = not self.running()
                self._terminate()
                if not exited or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _environment(self, executable: Path) -> dict[str, str]:
        assert self._workdir is not None and self.port is not None
        home, tmp = self._workdir / "home", self._workdir / "tmp"
        home.mkdir(exist_ok=True)
        tmp.mkdir(exist_ok=True)
        env = {
            "PATH": os.pathsep.join([str(executable.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(home),
            "TMPDIR": str(tmp),  # handler code is unpacked here; removed with the work dir
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "LOG_LEVEL": self.log_level,
            "MINISTACK_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # Keep warm handler workers around for a test session, not forever.
            "LAMBDA_WARM_TTL_SECONDS": str(self.warm_ttl_s),
            # Defaults are shared paths under /tmp; keep parallel emulators apart.
            "STATE_DIR": str(self._workdir / "state"),
            "S3_DATA_DIR": str(self._workdir / "s3"),
            **DUMMY_CREDENTIALS,
        }
        env.update(self.extra_env)
        return env

    def _spawn(self, executable: Path) -> None:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(executable)],
                env=self._environment(executable),
                cwd=self._workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() reaches handler workers too
            )

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.endpoint}/_ministack/health"
        while time.monotonic() < deadline:
            if not self.running():
                raise MiniStackError(f"MiniStack exited during start-up (port {self.port}).\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise MiniStackError(f"MiniStack not healthy after {self.startup_timeout_s:.0f}s at {url}.\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, MiniStackError):
            return "(no log)"
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(text.splitlines()[-lines:])

    def reset(self) -> None:
        """Drop all emulated resources (stacks, functions, buckets) without a restart."""
        request = urllib.request.Request(f"{self.endpoint}/_ministack/reset", method="POST", data=b"")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise MiniStackError(f"reset failed: {exc}\n{self.log_tail()}") from exc

    def _terminate(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        pgid = proc.pid  # start_new_session made it the group leader
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # Handler workers that ignored SIGTERM outlive the leader; sweep the group.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait(timeout=5)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the emulator and its workers; remove the work dir if we made it."""
        self._terminate(timeout_s)
        if self._owns_dir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> MiniStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- talking to it -----------------------------------------------------------

    def environ(self) -> dict[str, str]:
        """Variables that point an AWS SDK or CLI (``sam``) at this emulator."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": self.region, **DUMMY_CREDENTIALS}

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client for ``service`` bound to this emulator (``config``: botocore options)."""
        from faasflow.aws import aws_client

        options: dict[str, Any] = {"read_timeout": 300, "connect_timeout": 5, **config}
        return aws_client(service, self.endpoint, self.region, dummy_credentials=True, **options)

    def api_url(self, api_id: str, stage: str = "Prod") -> str:
        """Base URL of a deployed REST API, in the path form that needs no DNS."""
        return f"{self.endpoint}/_aws/execute-api/{api_id}/{stage}"
