"""A private ``redis-server`` for the benchmark, so stopping it never touches a shared Redis."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

__all__ = ["RedisServer", "free_port"]

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence, stopped by its pid."""

    def __init__(self, binary: str = "redis-server") -> None:
        found = shutil.which(binary)
        if found is None:
            raise RuntimeError(f"{binary} is not on PATH: session mode needs a Redis server")
        self.binary = found
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextmanager
    def running(cls, timeout: float = 10.0) -> Iterator[RedisServer]:
        """A started server, stopped on exit."""
        server = cls()
        server.start(timeout)
        try:
            yield server
        finally:
            server.stop()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self.process is None:
            raise RuntimeError("the Redis server is not started")
        return self.process.pid

    def alive(self) -> bool:
        """True while the server process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_timeout=1.0)
        try:
            while True:
                if not self.alive():
                    raise RuntimeError("redis-server exited at start-up")
                try:
                    if client.ping():
                        return
                except (redis.RedisError, OSError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server not ready after {timeout:g}s") from None
                time.sleep(0.02)
        finally:
            client.close()

    def commands_processed(self) -> int:
        """Redis's count of commands served so far (INFO stats)."""
        client = redis.Redis.from_url(self.url, socket_timeout=2.0)
        try:
            info = client.info("stats")
        finally:
            client.close()

        return int(info["total_commands_processed"])

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL after 5 s); a no-op when it is not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            logger.warning("redis-server %d did not stop; killing it", process.pid)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
