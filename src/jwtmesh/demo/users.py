"""The users service: a profile per subject, kept in memory.

``GET /users/me`` answers with the caller's profile and says who relayed the
call: when orders asks on a user's behalf it presents an exchanged token
(RFC 8693) whose ``act`` claim names it, and the answer shows ``actor``.
Admins list every profile (``users:read:any``).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

from jwtmesh.guard import CurrentPrincipal, Principal

from ._runtime import ServiceConfig, guarded_app

__all__ = ["create_app"]


def _profile(principal: Principal, now: float) -> dict[str, Any]:
    name = principal.claims.get("preferred_username")
    return {
        "subject": principal.subject,
        "display_name": name if isinstance(name, str) else principal.subject,
        "roles": sorted(principal.roles),
        "first_seen": now,
    }


def create_app(config: ServiceConfig) -> FastAPI:
    """The users service's FastAPI app, guarded."""
    app = guarded_app(config, "jwtmesh demo: users", "/users/whoami")
    profiles: dict[str, dict[str, Any]] = {}

    @app.get("/users/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        profile = profiles.setdefault(principal.subject, _profile(principal, time.time()))
        return {**profile, "actor": principal.actor}

    @app.get("/users")
    async def all_profiles() -> list[dict[str, Any]]:
        return list(profiles.values())

    return app
