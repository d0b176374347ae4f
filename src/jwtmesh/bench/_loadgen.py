"""The load generator: simulated clients on keep-alive HTTP/1.1 connections, in their own processes.

Each simulated client is a closed loop (send, wait for the whole answer,
send again) on its own connection, or a paced loop (``pace_per_s`` requests
a second each) for the availability runs.  Requests are prebuilt bytes and
answers are parsed by ``httptools`` on raw asyncio transports: a request
costs the generator about a tenth of what an aiohttp client spends, which
keeps it well clear of the services it measures (the HTTP section reports
its ceiling).  The clients are spread over :class:`LoadGenerator`'s worker
processes, which start once and serve every measurement point of a run.

Only answers that complete inside the measured window count: the warm-up
before it is discarded, and so is whatever completes after it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import cast
from urllib.parse import quote, urlsplit

import httptools
import orjson

from ._timing import percentile

__all__ = [
    "LoadGenerator",
    "LoadResult",
    "LoadRun",
    "LoadSpec",
    "Script",
    "get_request",
    "post_request",
    "serve",
]

logger = logging.getLogger(__name__)

_START_DELAY = 0.2  # seconds between handing out the work and the first request
_READY_TIMEOUT = 60.0  # seconds for a generator process to import and report ready
_FAILURE_PAUSE = 0.001  # a failed client waits this long: no busy loop on a refused port
_CHILD = "import sys; from jwtmesh.bench._loadgen import serve; serve(int(sys.argv[1]))"


def _head(method: str, url: str, headers: dict[str, str], body: bytes) -> bytes:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")

    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get_request(url: str, bearer: str | None = None) -> bytes:
    """A prebuilt ``GET url`` (with ``Authorization: Bearer`` when given)."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}

    return _head("GET", url, headers, b"")


def post_request(url: str, body: bytes, content_type: str, auth: str | None = None) -> bytes:
    """A prebuilt ``POST url`` with ``body`` (and an ``Authorization`` header when given)."""
    headers = {"Content-Type": content_type}
    if auth:
        headers["Authorization"] = auth

    return _head("POST", url, headers, body)


@dataclass(frozen=True)
class Script:
    """What the simulated clients send.

    Client ``i`` sends ``requests[i % len(requests)]`` again and again; when
    ``refresh_url`` is set, client ``i`` instead starts from
    ``refresh_tokens[i]`` and sends each refresh with the token the previous
    answer rotated in (RFC 6749 section 6, as a real client does).
    """

    url: str
    requests: tuple[bytes, ...] = ()
    refresh_tokens: tuple[str, ...] = ()
    refresh_client_id: str = ""
    expect: int = 200

    @property
    def refreshing(self) -> bool:
        """True for a refresh-token chain."""
        return bool(self.refresh_tokens)

    def first(self, client: int) -> bytes:
        """The first request of ``client``."""
        if self.refreshing:
            return self.refresh_request(self.refresh_tokens[client % len(self.refresh_tokens)])
        return self.requests[client % len(self.requests)]

    def refresh_request(self, token: str) -> bytes:
        """``grant_type=refresh_token`` with ``token`` for the public client."""
        body = (
            f"grant_type=refresh_token&client_id={quote(self.refresh_client_id)}"
            f"&refresh_token={quote(token)}"
        ).encode("ascii")

        return post_request(self.url, body, "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class LoadSpec:
    """One measurement point: the script, how many clients, for how long."""

    script: Script
    clients: int
    duration: float
    warmup: float = 0.5
    pace_per_s: float = 0.0  # per client; 0 = closed loop, as fast as the answers come
    timeout: float = 5.0
    timeline: bool = False  # keep each request's start time and status (availability)


@dataclass
class LoadResult:
    """What the generator saw in the measured window (merged over its processes)."""

    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # successful requests only
    statuses: dict[int, int] = field(default_factory=dict)  # 0 = no answer (refused, timeout)
    cpu_seconds: float = 0.0
    processes: int = 1
    starts: list[float] = field(default_factory=list)  # timeline: seconds into the window
    outcomes: list[bool] = field(default_factory=list)  # timeline: success of each request
    tokens: dict[int, str] = field(default_factory=dict)  # refresh chains: client -> last token

    @property
    def ok(self) -> int:
        """Requests answered with the expected status."""
        return len(self.latencies_ms)

    @property
    def total(self) -> int:
        """Every request that completed (or failed) in the window."""
        return sum(self.statuses.values())

    @property
    def requests_per_s(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def success_pct(self) -> float:
        """Share of the window's requests that succeeded."""
        return 100.0 * self.ok / self.total if self.total else 0.0

    def latency_ms(self, q: float) -> float:
        """The ``q``-th percentile latency of successful requests (0 when none)."""
        return percentile(self.latencies_ms, q) if self.latencies_ms else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """The generator's own CPU time per request."""
        return 1000.0 * self.cpu_seconds / self.total if self.total else 0.0

    @property
    def busy_pct(self) -> float:
        """How busy the generator's processes were (100 = every one saturated)."""
        return 100.0 * self.cpu_seconds / (self.seconds * self.processes) if self.seconds else 0.0

    @property
    def ceiling_per_s(self) -> float:
        """Requests/s the generator could send with every process saturated."""
        per_request = self.cpu_seconds / self.total if self.total else 0.0

        return self.processes / per_request if per_request > 0 else 0.0

    def values(self) -> dict[str, float]:
        """The standard metrics of one point."""
        return {
            "requests_per_s": self.requests_per_s,
            "p50_ms": self.latency_ms(50),
            "p99_ms": self.latency_ms(99),
            "success_pct": self.success_pct,
            "loadgen_busy_pct": self.busy_pct,
        }

    def merge(self, other: LoadResult) -> None:
        """Add another process's share."""
        self.latencies_ms += other.latencies_ms
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.cpu_seconds += other.cpu_seconds
        self.starts += other.starts
        self.outcomes += other.outcomes
        self.tokens.update(other.tokens)


# ---------------------------------------------------------------- the client
class _Connection(asyncio.Protocol):
    """One keep-alive connection: write a request, await the parsed answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if not self._parser.should_keep_alive():
            self.closed = True
        body, self._body = b"".join(self._body), []
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("connection closed"))

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` and return the answer's status and body."""
        assert self._transport is not None
        self._waiter = self._loop.create_future()
        self._transport.write(request)

        return await self._waiter

    def close(self) -> None:
        """Close the connection."""
        self.closed = True
        if self._transport is not None:
            self._transport.close()


_ERRORS = (OSError, TimeoutError, ConnectionError, httptools.HttpParserError)


class _Client:
    """One simulated client of a run."""

    def __init__(self, index: int, spec: LoadSpec, clock: _Window, out: LoadResult) -> None:
        self.index = index
        self.spec = spec
        self.clock = clock
        self.out = out
        self.request = spec.script.first(index)
        parts = urlsplit(spec.script.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection: _Connection | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_slot = time.perf_counter()
        while (started := time.perf_counter()) < self.clock.end:
            status, body = await self._send(loop)
            self._record(started, time.perf_counter(), status)
            if status == self.spec.script.expect:
                self._advance(body)
            elif not self.spec.pace_per_s:
                await asyncio.sleep(_FAILURE_PAUSE)
            if self.spec.pace_per_s:
                next_slot += 1.0 / self.spec.pace_per_s
                await asyncio.sleep(max(0.0, next_slot - time.perf_counter()))
        if self.connection is not None:
            self.connection.close()

    async def _send(self, loop: asyncio.AbstractEventLoop) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(self.spec.timeout):
                if self.connection is None or self.connection.closed:
                    _, self.connection = await loop.create_connection(
                        lambda: _Connection(loop), self.host, self.port
                    )
                return await self.connection.exchange(self.request)
        except _ERRORS:
            if self.connection is not None:
                self.connection.close()
                self.connection = None
            return 0, b""

    def _record(self, started: float, finished: float, status: int) -> None:
        if not self.clock.start <= finished <= self.clock.end:
            return
        ok = status == self.spec.script.expect
        if ok:
            self.out.latencies_ms.append((finished - started) * 1000.0)
        self.out.statuses[status] = self.out.statuses.get(status, 0) + 1
        if self.spec.timeline:
            # Counted by when it finished: one begun in the warm-up starts the window.
            self.out.starts.append(max(started, self.clock.start) - self.clock.start)
            self.out.outcomes.append(ok)

    def _advance(self, body: bytes) -> None:
        if not self.spec.script.refreshing:
            return
        token = orjson.loads(body)["refresh_token"]
        self.out.tokens[self.index] = token
        self.request = self.spec.script.refresh_request(token)


@dataclass(frozen=True)
class _Window:
    """The measured window, on this process's ``perf_counter`` clock."""

    start: float
    end: float


async def _drive(spec: LoadSpec, clients: Sequence[int], start_at: float) -> LoadResult:
    # start_at is wall-clock time, shared by every process of the generator and the
    # parent (which samples CPU over the same window); a late job keeps that window.
    begin = time.perf_counter() + (start_at - time.time())
    window = _Window(begin + spec.warmup, begin + spec.warmup + spec.duration)
    out = LoadResult(seconds=spec.duration)
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))
    tasks = [asyncio.ensure_future(_Client(i, spec, window, out).run()) for i in clients]
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    cpu_before = time.process_time()
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    out.cpu_seconds = time.process_time() - cpu_before
    await asyncio.gather(*tasks)

    return out


def serve(fd: int) -> None:
    """A generator process's body: run each job received on socket ``fd`` until None comes."""
    conn = Connection(socket.socket(fileno=fd).detach())
    runner = _runner()
    conn.send("ready")
    try:
        while True:
            job = conn.recv()
            if job is None:
                break
            spec, clients, start_at = job
            try:
                conn.send(runner.run(_drive(spec, clients, start_at)))
            except Exception as exc:  # tell the parent, keep serving
                conn.send(f"{type(exc).__name__}: {exc}")
    finally:
        runner.close()
        conn.close()


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # the plain loop works, with a lower ceiling
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


# ----------------------------------------------------------------- the pool
@dataclass
class LoadRun:
    """A point in progress: its measured window (wall clock) and how to collect it."""

    spec: LoadSpec
    window_start: float
    window_end: float
    _pipes: list[Connection]

    def wait(self) -> LoadResult:
        """Block until every process has answered; their shares merged."""
        merged = LoadResult(seconds=self.spec.duration, processes=len(self._pipes))
        for pipe in self._pipes:
            share = pipe.recv()
            if not isinstance(share, LoadResult):
                raise RuntimeError(f"load generator failed: {share}")
            merged.merge(share)

        return merged


class LoadGenerator:
    """``processes`` generator processes (spawned once), sharing each point's clients.

    >>> with LoadGenerator.started(1) as generator:            # doctest: +SKIP
    ...     result = generator.run(LoadSpec(Script(url, (get_request(url),)), 16, 5.0))
    """

    def __init__(self, processes: int = 1) -> None:
        self.processes = max(1, processes)
        self._pipes: list[Connection] = []
        self._children: list[subprocess.Popen[bytes]] = []

    @classmethod
    @contextmanager
    def started(cls, processes: int = 1) -> Iterator[LoadGenerator]:
        """A running generator, stopped on exit."""
        generator = cls(processes)
        generator.start()
        try:
            yield generator
        finally:
            generator.stop()

    @property
    def pids(self) -> list[int]:
        """Process ids of the generator processes."""
        return [child.pid for child in self._children]

    def start(self) -> None:
        """Start the processes: fresh interpreters, each talking over its own socket pair."""
        for _ in range(self.processes):
            ours, theirs = socket.socketpair()
            with theirs:
                process = subprocess.Popen(
                    [sys.executable, "-c", _CHILD, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self._pipes.append(Connection(ours.detach()))
            self._children.append(process)
        for pipe in self._pipes:
            if not pipe.poll(_READY_TIMEOUT) or pipe.recv() != "ready":
                self.stop()
                raise RuntimeError("a load generator process did not start")

    def begin(self, spec: LoadSpec) -> LoadRun:
        """Hand ``spec`` to the processes; return at once (see :meth:`LoadRun.wait`)."""
        start_at = time.time() + _START_DELAY
        for k, pipe in enumerate(self._pipes):
            share = list(range(k, spec.clients, self.processes))
            pipe.send((spec, share, start_at))
        window_start = start_at + spec.warmup

        return LoadRun(spec, window_start, window_start + spec.duration, self._pipes)

    def run(self, spec: LoadSpec) -> LoadResult:
        """Run one point and return its result."""
        return self.begin(spec).wait()

    def stop(self) -> None:
        """Ask every process to finish, then make sure it has (by its own pid)."""
        for pipe in self._pipes:
            with suppress(OSError):
                pipe.send(None)
            pipe.close()
        for process in self._children:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                logger.warning("load generator process %d did not stop; killing it", process.pid)
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        self._pipes, self._children = [], []
