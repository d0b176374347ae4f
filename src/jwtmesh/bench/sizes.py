"""Section "sizes": token size per role x algorithm x claim style.

Sizes are deterministic, so quick and full runs measure the same thing.
"""

from __future__ import annotations

import time

from jwtmesh.jose import encode

from ._context import Context, Section
from ._model import Row, SectionResult
from ._tokens import ALGORITHMS, ROLES, STYLES, RolePolicy, access_claims, load_policy, make_keypair

__all__ = ["SECTION", "run_sizes"]

BEARER_PREFIX = len("Authorization: Bearer ")
METHOD = (
    "Access tokens built as the authority issues them (iss, sub, aud list, exp, iat, nbf, jti, "
    "client_id, scope, sid, roles), signed with each algorithm. Claim style 'permissions' "
    "embeds the role's permissions from the policy; 'roles' carries roles only and leaves "
    "the services to resolve them through the same policy. Sizes in bytes of the compact "
    "token, its three base64url segments, and the whole Authorization header line."
)


def _measure(token: str, permissions: int) -> dict[str, float]:
    header, payload, signature = token.split(".")

    return {
        "token_bytes": float(len(token)),
        "header_bytes": float(len(header)),
        "payload_bytes": float(len(payload)),
        "signature_bytes": float(len(signature)),
        "authorization_header_bytes": float(BEARER_PREFIX + len(token)),
        "permissions": float(permissions),
    }


def _summary(rows: list[Row], policy: RolePolicy) -> dict[str, str | int | float | bool]:
    size = {(r.case["role"], r.case["alg"], r.case["style"]): r.values["token_bytes"] for r in rows}
    summary: dict[str, str | int | float | bool] = {
        "max_token_bytes": max(size.values()),
        "min_token_bytes": min(size.values()),
        "policy_source": policy.source,
    }
    for role in ROLES:
        summary[f"permissions_{role}"] = len(policy.permissions[role])
        summary[f"{role}_ES256_permissions_bytes"] = size[(role, "ES256", "permissions")]
        summary[f"{role}_ES256_roles_bytes"] = size[(role, "ES256", "roles")]
    ordered = [size[(role, alg, "permissions")] for role in ROLES for alg in ALGORITHMS]
    per_alg = [ordered[i :: len(ALGORITHMS)] for i in range(len(ALGORITHMS))]
    summary["grows_with_permissions"] = all(a >= b >= c for a, b, c in per_alg)

    return summary


def run_sizes(ctx: Context) -> SectionResult:
    """Encode one token per role x algorithm x claim style and measure it."""
    policy = load_policy()
    task = ctx.task("sizes: role x alg x style", len(ALGORITHMS))
    now = int(time.time())
    rows = []
    for alg in ALGORITHMS:
        key = make_keypair(alg).key
        for role in ROLES:
            for style in STYLES:
                token = encode(access_claims(role, style, policy, now), key)
                count = len(policy.permissions[role]) if style == "permissions" else 0
                rows.append(Row({"role": role, "alg": alg, "style": style}, _measure(token, count)))
        task.advance()
    counts = ", ".join(f"{r} {len(policy.permissions[r])}" for r in ROLES)

    return SectionResult(
        name="sizes",
        title="Token size per role, algorithm and claim style",
        method=METHOD,
        rows=rows,
        summary=_summary(rows, policy),
        notes=[f"Policy: {policy.source} (permissions per role: {counts})."],
    )


SECTION = Section("sizes", "Token size per role, algorithm and claim style", run_sizes)
