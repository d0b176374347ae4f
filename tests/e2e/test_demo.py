"""End to end: the demo's processes started, driven over real HTTP, and stopped."""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from jwtmesh.demo import DemoSystem, Row, StartupFailedError, Topology, run_scenario

pytestmark = pytest.mark.slow

# Every kind of refusal the issue asks the scenario to show.
REQUIRED_OUTCOMES = {
    "401 invalid_token (bad_signature)",
    "401 invalid_token (expired)",
    "401 invalid_token (wrong_audience)",
    "403 insufficient_scope",
    "403 forbidden",
    "400 invalid_grant",
}
UP_SCRIPT = (
    "import sys; from pathlib import Path; from jwtmesh.demo import demo_up; "
    "sys.exit(demo_up(Path(sys.argv[1])))"
)


def gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = [pid for pid in pids if not gone(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if not gone(pid)]
    return alive


def http_json(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """GET (or POST ``body`` as JSON) and parse the answer; raises on a non-2xx status."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def mismatches(rows: list[Row]) -> str:
    return "\n".join(
        f"{r.who}: {r.call}: expected {r.expected!r}, got {r.got!r}" for r in rows if not r.ok
    )


@pytest.mark.parametrize("mode", ["jwt", "introspection"])
def test_scenario_every_row_as_expected_and_everything_stopped(mode: str) -> None:
    with DemoSystem(mode=mode) as demo:
        pids = list(demo.pids().values())
        state_dir = demo.state_dir
        assert set(demo.pids()) == {"authority", "gateway", "users", "catalog", "orders"}
        rows = run_scenario(demo)
    assert not mismatches(rows), mismatches(rows)
    if mode == "jwt":  # introspection says "inactive" for most refusals (RFC 7662)
        assert {row.expected for row in rows} >= REQUIRED_OUTCOMES
    assert {row.who for row in rows} >= {"admin", "alice", "bob", "guest"}
    assert wait_gone(pids, 0) == []
    assert not state_dir.exists()


def test_each_service_is_its_own_process_port_and_audience() -> None:
    with DemoSystem() as demo:
        pids = set(demo.pids().values())
        ports = {service.url for service in demo.services.values()} | {demo.issuer}
        audiences = {service.audience for service in demo.services.values()}
    assert len(pids) == 5
    assert len(ports) == 5
    assert audiences == {"gateway", "users", "catalog", "orders"}


def test_a_process_that_cannot_start_is_named_and_the_others_stopped() -> None:
    topology = Topology.load()
    broken = [
        dataclasses.replace(spec, module="jwtmesh.demo.no_such_module")
        if spec.name == "catalog"
        else spec
        for spec in topology.services
    ]
    demo = DemoSystem(topology=dataclasses.replace(topology, services=tuple(broken)))
    with pytest.raises(StartupFailedError, match="catalog") as failure:
        demo.start()
    try:
        assert failure.value.name == "catalog"
        assert "no_such_module" in demo.log_tail("catalog")
        assert all(not child.alive() for child in demo.children)
    finally:
        demo.stop()
    assert not demo.state_dir.exists()


@pytest.fixture
def demo_up_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    info = tmp_path / "demo.json"
    process = subprocess.Popen(
        [sys.executable, "-c", UP_SCRIPT, str(info)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process, info
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def read_info(process: subprocess.Popen[bytes], info: Path, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not info.exists():
        assert process.poll() is None, "demo up exited before writing the info file"
        assert time.monotonic() < deadline, "no info file in time"
        time.sleep(0.1)
    return json.loads(info.read_text(encoding="utf-8"))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_demo_up_info_file_then_a_signal_stops_everything(
    demo_up_process: tuple[subprocess.Popen[bytes], Path], stop_signal: signal.Signals
) -> None:
    process, info_file = demo_up_process
    info = read_info(process, info_file)

    assert {"issuer", "jwks_url", "login_url", "token_url", "services", "accounts"} <= set(info)
    assert info["jwks_url"] == info["issuer"] + "/.well-known/jwks.json"
    assert set(info["services"]) == {"gateway", "users", "catalog", "orders"}
    for service in info["services"].values():
        assert set(service) == {"url", "audience", "probe"}
    roles = sorted(account["role"] for account in info["accounts"])
    assert roles == ["admin", "guest", "user", "user"]
    assert all(account["username"] and account["password"] for account in info["accounts"])
    assert len(http_json(info["jwks_url"])["keys"]) >= 1

    # The least privileged account may call every service's probe path.
    guest = next(a for a in info["accounts"] if a["role"] == "guest")
    token = http_json(
        info["login_url"], {"username": guest["username"], "password": guest["password"]}
    )["access_token"]
    for name, service in info["services"].items():
        answer = http_json(service["url"] + service["probe"], token=token)
        assert answer["subject"] == guest["username"]
        assert answer["service"] == name

    process.send_signal(stop_signal)
    assert process.wait(timeout=20) == 0
    assert wait_gone(list(info["pids"].values()), 5) == []
    assert not info_file.exists()
    assert not Path(info["state_dir"]).exists()


def test_services_stop_when_the_orchestrator_is_killed(
    demo_up_process: tuple[subprocess.Popen[bytes], Path],
) -> None:
    process, info_file = demo_up_process
    info = read_info(process, info_file)
    pids = list(info["pids"].values())
    assert all(not gone(pid) for pid in pids)

    process.kill()  # SIGKILL: no cleanup code runs in the orchestrator
    process.wait()

    assert wait_gone(pids, 10) == []
    shutil.rmtree(info["state_dir"])  # left behind, as nothing could remove it
