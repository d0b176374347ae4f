"""``serve()`` in its own process: uvicorn with uvloop and httptools, settings from the env."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SERVE = (
    "from jwtmesh.authority import AuthoritySettings, serve; "
    "import sys; serve(AuthoritySettings.from_env(), '127.0.0.1', int(sys.argv[1]))"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTMESH_")}
    env.update(
        JWTMESH_DATABASE_URL=f"sqlite:///{tmp_path}/served.db",
        JWTMESH_ISSUER="http://127.0.0.1",
        JWTMESH_LOG_LEVEL="warning",
        **extra,
    )
    return env


def test_serve_answers_health_and_stops(tmp_path: Path) -> None:
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        env=_env(tmp_path, JWTMESH_KEK=kek),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert kek.encode() not in output


def test_serve_without_kek_exits_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(_free_port())],
        env=_env(tmp_path),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert b"StartupError" in result.stderr and b"JWTMESH_KEK" in result.stderr
    assert not (tmp_path / "served.db").exists()
