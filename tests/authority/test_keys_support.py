"""Helpers of the key-ring tests (no tests here): databases, a served authority, row dumps."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jwtmesh.store import _schema as schema

SERVE = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
    "from jwtmesh.authority import AuthoritySettings, serve; "
    "serve(AuthoritySettings.from_env(), '127.0.0.1', int(sys.argv[1]))"
)


def b64(raw: bytes) -> str:
    """base64url without padding, as JWTMESH_KEK takes it."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dump_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every jwtmesh table, in key order: to compare a database before and after."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for table in schema.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def set_sealed_blob(url: str, kid: str, blob: bytes) -> None:
    """Overwrite the sealed private key of one row (to simulate a damaged row)."""
    engine = sa.create_engine(url)
    sk = schema.signing_keys
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(sk).where(sk.c.kid == kid).values(sealed_private_key=blob))
    finally:
        engine.dispose()


def authority_env(database_url: str, kek: str | None, **extra: str) -> dict[str, str]:
    """The environment of a served authority: no JWTMESH_* from outside, fast key ticks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTMESH_")}
    env.update(
        JWTMESH_DATABASE_URL=database_url,
        JWTMESH_ISSUER="http://auth.test",
        JWTMESH_LOG_LEVEL="debug",
        JWTMESH_KEY_TICK_INTERVAL="0.2",
        JWTMESH_ARGON2_TIME_COST="1",
        JWTMESH_ARGON2_MEMORY_KIB="1024",
        **extra,
    )
    if kek is not None:
        env["JWTMESH_KEK"] = kek
    return env


class ServedAuthority:
    """``serve()`` in a child process, which the test may kill with SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Poll /healthz until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise AssertionError(f"authority exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "authority did not come up"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        """Stop the child if it still runs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
