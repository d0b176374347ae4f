"""Run one process of the demo: ``python -m jwtmesh.demo.service NAME [options]``.

``NAME`` is ``authority`` (settings from ``JWTMESH_*``) or a service whose
module exposes ``create_app(ServiceConfig)`` (settings from
``JWTMESH_GUARD_*`` and ``JWTMESH_DEMO_*``).  ``--fd`` serves on an inherited
listening socket; ``--parent-pid`` stops the process when that parent is gone,
so no service outlives a killed orchestrator.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from fastapi import FastAPI

from ._runtime import ServiceConfig, serve

__all__ = ["build_app", "main"]

logger = logging.getLogger(__name__)


def build_app(name: str, module: str | None) -> FastAPI:
    """The ASGI app of process ``name``, configured from the environment."""
    if name == "authority":
        from jwtmesh.authority import AuthoritySettings, create_app

        return create_app(AuthoritySettings.from_env())
    target = importlib.import_module(module or f"jwtmesh.demo.{name}")
    app: FastAPI = target.create_app(ServiceConfig.from_env(name))
    return app


def _watch_parent(parent_pid: int) -> None:
    """SIGTERM ourselves (a graceful uvicorn shutdown) once the parent has gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        logger.warning("parent process %d is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, build the app and serve it until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m jwtmesh.demo.service")
    parser.add_argument("name")
    parser.add_argument("--module", default=None, help="module exposing create_app(config)")
    parser.add_argument("--fd", type=int, default=None, help="inherited listening socket")
    parser.add_argument("--port", type=int, default=0, help="port to bind without --fd")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind without --fd (0.0.0.0 in a container)"
    )
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    # JWTMESH_DEMO_LOG_LEVEL=debug turns every logger and uvicorn's access log up,
    # which is how the secrets-in-logs test reads everything a process could say.
    verbose = os.environ.get("JWTMESH_DEMO_LOG_LEVEL", "").lower() or None
    logging.basicConfig(
        level=verbose.upper() if verbose else logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s {args.name} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("jwtmesh").setLevel(verbose.upper() if verbose else logging.INFO)
    if args.parent_pid is not None:
        _watch_parent(args.parent_pid)
    try:
        app = build_app(args.name, args.module)
    except Exception as exc:
        logger.error("cannot start %s: %s", args.name, exc)
        return 2
    serve(app, fd=args.fd, port=args.port, host=args.host, log_level=verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
