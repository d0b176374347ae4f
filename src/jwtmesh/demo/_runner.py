"""``jwtmesh demo`` (scenario, table, exit code) and ``jwtmesh demo up`` (keep running)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._process import StartupFailedError
from ._scenario import Row, run_scenario
from ._system import DemoSystem

__all__ = ["demo_up", "render_table", "run_scenario_demo"]


def render_table(rows: Sequence[Row], title: str) -> Table:
    """The result table: who, call, expected, got, and a mark per row."""
    table = Table(title=title, title_justify="left")
    for column in ("#", "who", "call", "expected", "got", ""):
        table.add_column(column, no_wrap=column in ("#", ""))
    for number, row in enumerate(rows, 1):
        mark = "[green]ok[/]" if row.ok else "[bold red]MISMATCH[/]"
        got = escape(row.got) if row.ok else f"[red]{escape(row.got)}[/]"
        table.add_row(
            str(number), escape(row.who), escape(row.call), escape(row.expected), got, mark
        )
    return table


def _console() -> Console:
    # Not a terminal (CI, a pipe): wide enough that the table does not wrap.
    return Console() if sys.stdout.isatty() else Console(width=150)


def _print_logs(console: Console, demo: DemoSystem, names: Sequence[str]) -> None:
    for name in names:
        tail = demo.log_tail(name, 15)
        if tail:
            console.rule(f"{name} log (last lines)")
            console.print(tail, markup=False, highlight=False)


def run_scenario_demo(mode: str = "jwt", console: Console | None = None) -> int:
    """Start everything, run the scenario through the gateway, print the table, stop.

    Returns the exit code: 0 when every row matched, 1 otherwise (or when a
    process failed to start), 130 when interrupted.
    """
    console = console or _console()
    started = time.monotonic()
    demo = DemoSystem(mode=mode)
    try:
        with console.status("starting the authority and the services..."):
            demo.start()
        console.print(
            f"[dim]{len(demo.children)} processes up in "
            f"{time.monotonic() - started:.1f}s; running the scenario[/]"
        )
        rows = run_scenario(demo)
        failed = sum(not row.ok for row in rows)
        title = (
            f"jwtmesh demo ({mode}): {len(rows) - failed}/{len(rows)} as expected, "
            f"{time.monotonic() - started:.1f}s"
        )
        console.print(render_table(rows, title))
        if failed:
            _print_logs(console, demo, list(demo.pids()))
        return 1 if failed else 0
    except StartupFailedError as exc:
        console.print(f"[bold red]demo failed to start:[/] {exc}")
        _print_logs(console, demo, [exc.name])
        return 1
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    finally:
        demo.stop()


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM (also when started with SIGINT ignored, as by ``&``)."""
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _write_info(path: Path, info: dict[str, object]) -> None:
    """Write atomically (a reader never sees half a file), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(info, out, indent=2)
    partial.replace(path)


def _print_up(console: Console, demo: DemoSystem, info_file: Path | None) -> None:
    table = Table(title="jwtmesh demo is up", title_justify="left")
    for column in ("process", "url", "audience", "try (GET, any logged-in user)"):
        table.add_column(column)
    table.add_row("authority", demo.issuer, "", "/.well-known/jwks.json (no token)")
    for service in demo.services.values():
        table.add_row(service.name, service.url, service.audience, service.probe)
    console.print(table)
    accounts = Table(title="accounts (passwords are new each run)", title_justify="left")
    for column in ("username", "password", "role"):
        accounts.add_column(column)
    for account in demo.accounts:
        accounts.add_row(account.username, account.password, account.role)
    console.print(accounts)
    gateway = demo.services["gateway"].url
    console.print(
        f"log in:  curl -s -X POST {demo.login_url} -H 'content-type: application/json' "
        f'-d \'{{"username":"alice","password":"{demo.account("alice").password}"}}\'\n'
        f"then:    curl -s {gateway}/catalog/products -H 'authorization: Bearer <access_token>'",
        markup=False,
        highlight=False,
    )
    if info_file is not None:
        console.print(f"details for scripts: {info_file}", markup=False)
    console.print(f"state and logs: {demo.state_dir}", markup=False)
    console.print("Ctrl-C (or SIGTERM) stops everything.")


def demo_up(
    info_file: Path | None = None, mode: str = "jwt", console: Console | None = None
) -> int:
    """Start everything and keep it running until Ctrl-C or SIGTERM.

    Prints the URLs and accounts; ``info_file`` also gets them as JSON
    (issuer, JWKS, login and token URLs, each service's URL, audience and
    probe path, the accounts, the process ids, the state directory), and is
    removed again on stop.
    Returns 0 after a clean stop, 1 when a process failed or died.
    """
    console = console or _console()
    demo = DemoSystem(mode=mode)
    with _stop_on_signals() as stop:
        try:
            demo.start()
            if info_file is not None:
                _write_info(
                    info_file,
                    {**demo.info(), "pids": demo.pids(), "state_dir": str(demo.state_dir)},
                )
            _print_up(console, demo, info_file)
            return _watch(console, demo, stop)
        except StartupFailedError as exc:
            console.print(f"[bold red]demo failed to start:[/] {exc}")
            _print_logs(console, demo, [exc.name])
            return 1
        finally:
            console.print("stopping...")
            demo.stop()
            if info_file is not None:
                info_file.unlink(missing_ok=True)


def _watch(console: Console, demo: DemoSystem, stop: threading.Event) -> int:
    """Wait for a stop request; return 1 early if a process dies on its own."""
    while not stop.wait(0.25):
        dead = [child for child in demo.children if not child.alive()]
        if dead:
            console.print(f"[bold red]{dead[0].name} exited unexpectedly[/]")
            _print_logs(console, demo, [dead[0].name])
            return 1
    return 0
