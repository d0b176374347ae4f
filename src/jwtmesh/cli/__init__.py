"""The ``jwtmesh`` command: one entry point, a subcommand per job."""

from . import _bench, _demo, _keys
from ._app import app, main

__all__ = ["app", "main"]

_commands = (_bench, _demo, _keys)  # imported for the commands they register
