"""Keys, claims and the role policy the in-process sections share.

Claims are built the way the authority issues access tokens (RFC 9068):
``iss, sub, aud (list), exp, iat, nbf, jti, client_id, scope, roles``, plus
``permissions`` in the "permissions" claim style.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import jwtmesh
from jwtmesh.guard.policy import Policy
from jwtmesh.jose import Key

__all__ = [
    "ALGORITHMS",
    "AUDIENCE",
    "ISSUER",
    "ROLES",
    "STYLES",
    "KeyPair",
    "RolePolicy",
    "access_claims",
    "load_policy",
    "make_keypair",
    "raw_signer",
    "raw_verifier",
]

ALGORITHMS = ("HS256", "RS256", "ES256", "EdDSA")
ROLES = ("admin", "user", "guest")
STYLES = ("permissions", "roles")
ISSUER = "https://authority.jwtmesh.test"
AUDIENCE = ("orders", "catalog")
CLIENT_ID = "shop-web"
SCOPE = "openid profile orders catalog"
LIFETIME = 900
DEMO_POLICY = Path(jwtmesh.__file__).parent / "demo" / "policy.toml"

# Used when the demo has no policy file (yet) or it lacks one of ROLES.
EMBEDDED_POLICY: dict[str, Any] = {
    "roles": {
        "guest": {"permissions": ["catalog:read"]},
        "user": {
            "permissions": ["orders:read", "orders:write", "payments:read", "profile:write"],
            "includes": ["guest"],
        },
        "admin": {
            "permissions": [
                "orders:cancel",
                "orders:refund",
                "catalog:write",
                "catalog:publish",
                "payments:capture",
                "payments:refund",
                "users:read",
                "users:write",
                "users:disable",
                "audit:read",
            ],
            "includes": ["user"],
        },
    }
}


@dataclass(frozen=True)
class RolePolicy:
    """Role -> sorted permissions, and where they came from."""

    permissions: dict[str, tuple[str, ...]]
    source: str


def load_policy(path: Path = DEMO_POLICY) -> RolePolicy:
    """The demo's policy when it defines every role in :data:`ROLES`, else the embedded one."""
    if path.is_file():
        roles = Policy.load(path).roles
        if all(role in roles for role in ROLES):
            return RolePolicy({r: tuple(sorted(roles[r])) for r in ROLES}, str(path))
    roles = Policy.from_dict(EMBEDDED_POLICY).roles

    return RolePolicy({r: tuple(sorted(roles[r])) for r in ROLES}, "embedded bench policy")


def access_claims(
    role: str, style: str, policy: RolePolicy, now: int, jti: str | None = None
) -> dict[str, Any]:
    """An access token's claims for a user holding ``role``, as the authority issues them."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(uuid.UUID(int=0x5EED_0000 + ROLES.index(role))),
        "aud": list(AUDIENCE),
        "exp": now + LIFETIME,
        "iat": now,
        "nbf": now,
        "jti": jti or secrets.token_urlsafe(16),
        "client_id": CLIENT_ID,
        "scope": SCOPE,
        "sid": secrets.token_urlsafe(16),
        "roles": [role],
    }
    if style == "permissions":
        claims["permissions"] = list(policy.permissions[role])

    return claims


@dataclass(frozen=True)
class KeyPair:
    """One algorithm's jwtmesh key and the same key as raw ``cryptography`` objects."""

    alg: str
    key: Key
    raw_private: Any
    raw_public: Any
    secret: bytes | None = None

    @property
    def verify_key(self) -> Key:
        """What a service holds: the public half (or the shared secret for HMAC)."""
        return self.key if self.secret is not None else self.key.public()


def make_keypair(alg: str) -> KeyPair:
    """A fresh key for ``alg``, generated with ``cryptography`` and loaded into jwtmesh."""
    if alg == "HS256":
        secret = os.urandom(32)
        return KeyPair(alg, Key.from_secret(secret), None, None, secret)
    private: Any
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no raw key recipe for {alg}")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    return KeyPair(alg, Key.from_pem(pem, alg), private, private.public_key())


def raw_signer(pair: KeyPair) -> Callable[[bytes], bytes]:
    """The bare ``cryptography`` (or ``hmac``) signing call for ``pair``."""
    if pair.secret is not None:
        secret = pair.secret
        return lambda message: hmac.digest(secret, message, "sha256")
    private = pair.raw_private
    if pair.alg == "RS256":
        pad, digest = padding.PKCS1v15(), hashes.SHA256()
        return lambda message: bytes(private.sign(message, pad, digest))
    if pair.alg == "ES256":
        algorithm = ec.ECDSA(hashes.SHA256())
        return lambda message: bytes(private.sign(message, algorithm))

    return lambda message: bytes(private.sign(message))


def raw_verifier(pair: KeyPair, token: str) -> Callable[[], None]:
    """The bare ``cryptography`` verification of ``token``'s signature, ready to call.

    Splitting and base64 decoding happen once, outside: this is the floor a
    JWT library cannot go below.
    """
    signing_input, _, sig64 = token.encode("ascii").rpartition(b".")
    signature = _b64decode(sig64)
    if pair.secret is not None:
        secret = pair.secret

        def verify_hmac() -> None:
            if not hmac.compare_digest(hmac.digest(secret, signing_input, "sha256"), signature):
                raise ValueError("bad signature")

        return verify_hmac
    public = pair.raw_public
    if pair.alg == "RS256":
        pad, digest = padding.PKCS1v15(), hashes.SHA256()
        return lambda: public.verify(signature, signing_input, pad, digest)
    if pair.alg == "ES256":
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        algorithm = ec.ECDSA(hashes.SHA256())
        return lambda: public.verify(der, signing_input, algorithm)

    return lambda: public.verify(signature, signing_input)


def _b64decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
