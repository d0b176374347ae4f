"""What the HTTP sections drive: one demo shop per guard mode, credentials, processes, CPU.

Every mode runs the same demo services; only the guards' configuration
differs (``JWTMESH_GUARD_MODE`` and its settings).  The measured call is one
cheap GET of the catalog reached directly (one hop): ``/catalog/products/p2``
with a credential, and its no-auth twin ``/catalog/products/p1``, which the
guard is told is public (``JWTMESH_GUARD_PUBLIC_PATHS``): same process, same
handler, no authentication.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

from jwtmesh.demo import DemoSystem, ServiceEndpoint, Topology

from ._redis import RedisServer

__all__ = [
    "GUARD_MODES",
    "MEASURED_PATH",
    "PUBLIC_PATH",
    "CpuMeter",
    "Fleet",
    "ModeSystem",
    "ServicePool",
    "cpu_delta",
    "fleet",
    "get_json",
    "login",
    "mode_env",
    "sleep_until",
]

logger = logging.getLogger(__name__)

GUARD_MODES = ("jwt", "session", "introspection")
SERVICE = "catalog"
SERVICE_MODULE = "jwtmesh.demo.catalog"
MEASURED_PATH = "/catalog/products/p2"
PUBLIC_PATH = "/catalog/products/p1"
ACCESS_TTL = 3600  # long enough for a whole run: credentials are logged in once per mode
TOKEN_CACHE_SIZE = 4096


def mode_env(mode: str, redis_url: str | None) -> dict[str, str]:
    """The variables that make a demo shop run in ``mode`` for the benchmark."""
    env = {"JWTMESH_GUARD_PUBLIC_PATHS": f"/healthz,{PUBLIC_PATH}"}
    if mode == "jwt":
        # Clients reuse their token, so a service keeps the ones it has verified.
        env["JWTMESH_GUARD_TOKEN_CACHE_SIZE"] = str(TOKEN_CACHE_SIZE)
    if mode == "session" and redis_url:
        env["JWTMESH_SESSIONS_REDIS_URL"] = redis_url  # read by the authority only
    return env


def sleep_until(moment: float) -> None:
    """Sleep until wall-clock time ``moment``."""
    time.sleep(max(0.0, moment - time.time()))


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
        return json.loads(response.read())


def _post_json(url: str, body: dict[str, str]) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - our own http URL
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def login(demo: DemoSystem, count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` logins (accounts in turn, a few at a time): each answer's JSON body."""

    def one(i: int) -> dict[str, Any]:
        account = demo.accounts[i % len(demo.accounts)]
        return _post_json(
            demo.login_url, {"username": account.username, "password": account.password}
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(start, start + count)))


@dataclass
class ModeSystem:
    """A demo shop whose guards run in ``mode``, and the credentials of its simulated clients."""

    mode: str
    demo: DemoSystem
    redis: RedisServer | None = None
    credentials: list[str] = field(default_factory=list)

    @property
    def service(self) -> ServiceEndpoint:
        """The measured service (the catalog)."""
        return self.demo.services[SERVICE]

    def url(self, path: str) -> str:
        """A URL of the measured service."""
        return self.service.url + path

    def credentials_for(self, clients: int) -> list[str]:
        """One credential per simulated client (logged in on first need, then reused)."""
        missing = clients - len(self.credentials)
        if missing > 0:
            key = "session_id" if self.mode == "session" else "access_token"
            answers = login(self.demo, missing, start=len(self.credentials))
            self.credentials += [str(answer[key]) for answer in answers]
        return self.credentials[:clients]

    def service_env(self) -> dict[str, str]:
        """The measured service's environment, to start more copies of it."""
        return dict(psutil.Process(self.demo.pids()[SERVICE]).environ())

    def pids(self) -> dict[str, list[int]]:
        """Process ids by role: the service, the authority, and Redis (session mode)."""
        pids = self.demo.pids()
        groups = {"service": [pids[SERVICE]], "authority": [pids["authority"]]}
        if self.redis is not None and self.redis.alive():
            groups["redis"] = [self.redis.pid]
        return groups


@dataclass
class Fleet:
    """The running systems, one per guard mode."""

    systems: dict[str, ModeSystem]

    def __getitem__(self, mode: str) -> ModeSystem:
        return self.systems[mode]


def _demo(mode: str, redis: RedisServer | None) -> DemoSystem:
    topology = dataclasses.replace(Topology.load(), access_ttl=ACCESS_TTL)
    url = redis.url if redis is not None else None

    return DemoSystem(mode=mode, topology=topology, redis_url=url, extra_env=mode_env(mode, url))


@contextmanager
def fleet(modes: Sequence[str] = GUARD_MODES) -> Iterator[Fleet]:
    """Start a demo shop per mode and a private Redis for sessions."""
    with ExitStack() as stack:
        redis = stack.enter_context(RedisServer.running()) if "session" in modes else None
        systems = {m: ModeSystem(m, _demo(m, redis if m == "session" else None)) for m in modes}
        for system in systems.values():
            system.redis = redis if system.mode == "session" else None
            stack.callback(system.demo.stop)  # safe on a system that never started
        for system in systems.values():
            system.demo.start()  # one at a time: the database set-up is not thread safe
        yield Fleet(systems)


class CpuMeter:
    """CPU time (user + system) of groups of processes, sampled on demand."""

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self._groups = {
            name: [psutil.Process(pid) for pid in pids] for name, pids in groups.items()
        }

    def sample(self) -> dict[str, float]:
        """Seconds of CPU used so far, per group (a process gone counts nothing more)."""
        return {name: sum(_cpu(p) for p in procs) for name, procs in self._groups.items()}


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds used between two samples, per group (never negative)."""
    return {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}


class ServicePool:
    """Copies of the measured service started by the benchmark, sharing one port.

    Each process gets its own listening socket bound with ``SO_REUSEPORT`` to
    the same port, so the kernel spreads connections over them.  They run the
    demo's public entry point (``python -m jwtmesh.demo.service``) with the
    environment of a running demo service, plus ``overrides``.
    """

    def __init__(
        self, env: Mapping[str, str], processes: int, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.env = {**env, **(overrides or {})}
        self.processes = processes
        self.port = 0
        self.children: list[subprocess.Popen[bytes]] = []

    @classmethod
    @contextmanager
    def running(
        cls, env: Mapping[str, str], processes: int, overrides: Mapping[str, str] | None = None
    ) -> Iterator[ServicePool]:
        """A started pool, stopped on exit."""
        pool = cls(env, processes, overrides)
        try:
            pool.start()
            yield pool
        finally:
            pool.stop()

    @property
    def url(self) -> str:
        """The shared base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> list[int]:
        """The service processes."""
        return [child.pid for child in self.children]

    def start(self, timeout: float = 60.0) -> None:
        """Bind, start every process, wait until the port answers ``/healthz``."""
        sockets = self._bind()
        try:
            for sock in sockets:
                self.children.append(self._spawn(sock))
        finally:
            for sock in sockets:
                sock.close()
        self._wait_healthy(timeout)

    def _bind(self) -> list[socket.socket]:
        sockets: list[socket.socket] = []
        for _ in range(self.processes):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(1024)
            sock.set_inheritable(True)
            self.port = int(sock.getsockname()[1])
            sockets.append(sock)
        return sockets

    def _spawn(self, sock: socket.socket) -> subprocess.Popen[bytes]:
        fd = sock.fileno()
        argv = [sys.executable, "-m", "jwtmesh.demo.service", SERVICE, "--module", SERVICE_MODULE]
        argv += ["--fd", str(fd), "--parent-pid", str(os.getpid())]
        return subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(fd,),
            start_new_session=True,
        )

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if any(child.poll() is not None for child in self.children):
                raise RuntimeError("a benchmark copy of the service exited at start-up")
            if _answers(self.url + "/healthz"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"benchmark service copies not healthy after {timeout:g}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM each process by pid; SIGKILL the ones still running after 5 s."""
        children, self.children = self.children, []
        for child in children:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False
