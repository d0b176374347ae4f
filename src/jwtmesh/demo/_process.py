"""Child processes of the demo: started in their own process group, stopped by pid."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Child", "Listener", "StartupFailedError", "spawn", "stop_all", "wait_healthy"]

logger = logging.getLogger(__name__)


class StartupFailedError(RuntimeError):
    """A child exited or never became healthy; ``name`` says which one."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass
class Listener:
    """A listening socket on 127.0.0.1, bound here and handed to a child.

    Binding in the parent means no race for the port, and clients that
    connect before the child is ready wait in the backlog instead of failing.
    """

    sock: socket.socket

    @classmethod
    def bind(cls, port: int = 0) -> Listener:
        """Listen on ``port`` (0 picks a free one)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        sock.set_inheritable(True)
        return cls(sock)

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Close the parent's copy (the child keeps its own)."""
        self.sock.close()


@dataclass
class Child:
    """One started process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of its output."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(
    name: str, args: Sequence[str], env: Mapping[str, str], log_path: Path, listener: Listener
) -> Child:
    """Start ``python -m jwtmesh.demo.service`` ``args`` with the listening socket inherited."""
    fd = listener.sock.fileno()
    argv = [
        sys.executable,
        "-m",
        "jwtmesh.demo.service",
        *args,
        "--fd",
        str(fd),
        "--parent-pid",
        str(os.getpid()),
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            start_new_session=True,
            close_fds=True,
        )
    logger.debug("started %s (pid %d)", name, process.pid)
    return Child(name, process, log_path)


def wait_healthy(children: Sequence[Child], urls: Mapping[str, str], timeout: float) -> None:
    """Poll each child's ``/healthz`` until it answers 200; raise on exit or timeout."""
    deadline = time.monotonic() + timeout
    pending = list(children)
    while pending:
        for child in list(pending):
            if not child.alive():
                raise StartupFailedError(child.name, f"exited with code {child.process.poll()}")
            if _healthy(urls[child.name] + "/healthz"):
                pending.remove(child)
        if pending and time.monotonic() > deadline:
            raise StartupFailedError(pending[0].name, f"not healthy after {timeout:.0f}s")
        if pending:
            time.sleep(0.05)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http URL
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def stop_all(children: Sequence[Child], timeout: float = 5.0) -> None:
    """SIGTERM every running child's process group; SIGKILL the ones left after ``timeout``."""
    running = [child for child in children if child.alive()]
    for child in running:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in running:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time; killing it", child.name)
            _signal_group(child, signal.SIGKILL)
            child.process.wait()


def _signal_group(child: Child, sig: signal.Signals) -> None:
    # Each child leads its own process group (start_new_session), so its pid names it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
