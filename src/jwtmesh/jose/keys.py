"""Signing keys: generation, PEM and JWK (RFC 7517) forms, RFC 7638 thumbprints.

A :class:`Key` is bound to exactly one algorithm.  The algorithm a token may
use is the key's, never the one its header asks for (RFC 8725 section 3.1).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ._b64 import b64url_decode, b64url_encode
from ._json import dump_object
from .errors import InsecureKeyError, KeyFormatError, MalformedTokenError

__all__ = ["ASYMMETRIC_ALGORITHMS", "SUPPORTED_ALGORITHMS", "Key", "thumbprint"]

_EC_CURVES: dict[str, tuple[str, ec.EllipticCurve, hashes.HashAlgorithm, int]] = {
    "ES256": ("P-256", ec.SECP256R1(), hashes.SHA256(), 32),
    "ES384": ("P-384", ec.SECP384R1(), hashes.SHA384(), 48),
    "ES512": ("P-521", ec.SECP521R1(), hashes.SHA512(), 66),
}
_RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
    "PS256": hashes.SHA256(),
    "PS384": hashes.SHA384(),
    "PS512": hashes.SHA512(),
}
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
_CURVE_ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "P-521": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}
# "Ed25519" is RFC 9864's fully specified name for EdDSA over Ed25519; both are accepted,
# each pinned to the key that declares it.
_EDDSA = frozenset({"EdDSA", "Ed25519"})
ASYMMETRIC_ALGORITHMS = frozenset({*_EC_CURVES, *_RSA_HASHES, *_EDDSA})
SUPPORTED_ALGORITHMS = frozenset({*ASYMMETRIC_ALGORITHMS, *_HMAC_HASHES})
MIN_RSA_BITS = 2048
# Text forms of public keys and certificates: PEM (any label, also inside a
# bundle), RFC 4716 SSH2 public keys, and OpenSSH one-line keys.
_TEXT_KEY_MARKERS = (b"-----BEGIN ", b"---- BEGIN SSH2 ")
_OPENSSH_PREFIXES = (b"ssh-", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=_\-\s]+")

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def _int_b64(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big")).decode("ascii")


def _b64_int(jwk: dict[str, Any], name: str) -> int:
    return int.from_bytes(_jwk_bytes(jwk, name), "big")


def _jwk_bytes(jwk: dict[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise KeyFormatError(f"JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value.encode("ascii"))
    except (MalformedTokenError, UnicodeEncodeError) as exc:
        raise KeyFormatError(f"JWK member {name!r} is not base64url") from exc


_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: the required members, sorted, compact."""
    kty = public_jwk.get("kty")
    required = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if required is None:
        raise KeyFormatError("JWK has no supported kty")
    if not all(isinstance(public_jwk.get(name), str) for name in required):
        raise KeyFormatError("JWK lacks a member its thumbprint needs")
    canonical = dump_object({name: public_jwk[name] for name in required})
    return b64url_encode(hashlib.sha256(canonical).digest()).decode("ascii")


def looks_like_public_key(secret: bytes) -> bool:
    """True for a public key or certificate in PEM, DER, OpenSSH, SSH2 or JWK/JWKS form.

    Text forms are found by their markers, binary and bare base64 forms by
    actually parsing them, so that a random secret is never refused by chance.
    """
    stripped = secret.strip()
    if any(marker in secret for marker in _TEXT_KEY_MARKERS):
        return True
    if stripped.startswith(_OPENSSH_PREFIXES):
        return True
    if stripped[:1] in (b"{", b"["):
        return _is_json_document(stripped)
    if _is_der_key(secret) or _is_der_key(stripped):
        return True
    return _BASE64_TEXT.fullmatch(stripped) is not None and _is_der_key(_unbase64(stripped))


def _is_json_document(data: bytes) -> bool:
    """A JSON object or array (a JWK, a JWKS, a list of keys) is never an HMAC secret."""
    try:
        return isinstance(orjson.loads(data), dict | list)
    except orjson.JSONDecodeError:
        return False


def _is_der_key(data: bytes) -> bool:
    """True when ``data`` parses as a DER public key (SPKI or PKCS#1) or certificate."""
    if not data.startswith(b"\x30"):
        return False
    for load in (serialization.load_der_public_key, x509.load_der_x509_certificate):
        try:
            load(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return True
    return False


def _unbase64(data: bytes) -> bytes:
    compact = b"".join(data.split()).translate(bytes.maketrans(b"-_", b"+/")).rstrip(b"=")
    try:
        return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))
    except binascii.Error:
        return b""


class Key:
    """One key bound to one JWS algorithm, private or public.

    Build one with :meth:`generate`, :meth:`from_pem`, :meth:`from_jwk` or
    :meth:`from_secret`; the ``kid`` defaults to the RFC 7638 thumbprint.
    """

    __slots__ = ("_private", "_public", "_secret", "_verify", "alg", "kid", "kty")

    def __init__(
        self,
        alg: str,
        *,
        private: _PrivateKey | None = None,
        public: _PublicKey | None = None,
        secret: bytes | None = None,
        kid: str | None = None,
    ) -> None:
        if alg not in SUPPORTED_ALGORITHMS:
            raise KeyFormatError(f"unsupported algorithm {alg!r}")
        self.alg = alg
        self._private = private
        self._public = public if public is not None or private is None else private.public_key()
        self._secret = secret
        self.kty = _check_pairing(alg, self._public, secret)
        self.kid = kid if kid is not None else thumbprint(self._jwk_public_members())
        self._verify = self._make_verifier()

    # ----------------------------------------------------------- constructors
    @classmethod
    def generate(cls, alg: str = "ES256") -> Key:
        """A fresh private key for ``alg`` (ES*, EdDSA, RS*, PS*)."""
        private: _PrivateKey
        if alg in _EC_CURVES:
            private = ec.generate_private_key(_EC_CURVES[alg][1])
        elif alg in _EDDSA:
            private = ed25519.Ed25519PrivateKey.generate()
        elif alg in _RSA_HASHES:
            private = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
        else:
            raise KeyFormatError(
                f"cannot generate a key for {alg!r}; HMAC keys come from from_secret"
            )
        return cls(alg, private=private)

    @classmethod
    def from_secret(cls, secret: bytes, alg: str = "HS256", kid: str | None = None) -> Key:
        """An HMAC key, for single-service use only.

        Refuses secrets shorter than the hash output (RFC 7518 section 3.2)
        and anything shaped like a public key, which is how algorithm
        confusion attacks smuggle one in (RFC 8725 section 2.1).
        """
        if alg not in _HMAC_HASHES:
            raise KeyFormatError(f"{alg!r} is not an HMAC algorithm")
        if looks_like_public_key(secret):
            raise InsecureKeyError("HMAC secret looks like public key material")
        if len(secret) < _HMAC_HASHES[alg]().digest_size:
            raise InsecureKeyError(
                f"{alg} secret must be at least {_HMAC_HASHES[alg]().digest_size} bytes"
            )
        return cls(alg, secret=secret, kid=kid)

    @classmethod
    def from_pem(cls, data: bytes, alg: str | None = None, password: bytes | None = None) -> Key:
        """Load a PEM private key (PKCS#8 or traditional) or public key (SPKI or PKCS#1)."""
        loaded: Any
        try:
            if b"PRIVATE KEY" in data:
                loaded = serialization.load_pem_private_key(data, password=password)
            else:
                loaded = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError("not a supported PEM key") from exc
        alg = alg or _default_alg(loaded)
        if isinstance(loaded, _PrivateKey):
            return cls(alg, private=loaded)
        if isinstance(loaded, _PublicKey):
            return cls(alg, public=loaded)
        raise KeyFormatError("not a supported PEM key type")

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any], alg: str | None = None) -> Key:
        """Load a JWK; ``alg`` comes from the JWK or the argument, and must agree."""
        if not isinstance(jwk, dict):
            raise KeyFormatError("a JWK must be a JSON object")
        if jwk.get("use", "sig") != "sig":
            raise KeyFormatError("JWK is not for signatures")
        chosen = _jwk_alg(jwk, alg)
        kid = jwk.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > 128):
            raise KeyFormatError("JWK kid must be a short non-empty string")
        kty = jwk.get("kty")
        if kty == "oct":
            return cls.from_secret(_jwk_bytes(jwk, "k"), chosen, kid=kid)
        try:
            private, public = _load_jwk_material(kty, jwk)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFormatError("JWK key material is invalid") from exc
        return cls(chosen, private=private, public=public, kid=kid)

    # ------------------------------------------------------------- properties
    @property
    def is_private(self) -> bool:
        """True when this key can sign."""
        return self._private is not None or self._secret is not None

    def public(self) -> Key:
        """The public half (HMAC keys have none and raise)."""
        if self._public is None:
            raise KeyFormatError("an HMAC key has no public half")
        return Key(self.alg, public=self._public, kid=self.kid)

    # ------------------------------------------------------------ export
    def public_jwk(self) -> dict[str, Any]:
        """The public JWK with ``kid``, ``alg`` and ``use``; refuses for HMAC keys."""
        if self._public is None:
            raise KeyFormatError("an HMAC key has no public JWK")
        return {**self._jwk_public_members(), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def private_jwk(self) -> dict[str, Any]:
        """The private JWK (never publish, never log)."""
        if self._secret is not None:
            return {
                "kty": "oct",
                "k": b64url_encode(self._secret).decode(),
                "kid": self.kid,
                "alg": self.alg,
            }
        private = self._private
        jwk = self.public_jwk()
        if isinstance(private, ec.EllipticCurvePrivateKey):
            jwk["d"] = _int_b64(private.private_numbers().private_value, _EC_CURVES[self.alg][3])
        elif isinstance(private, ed25519.Ed25519PrivateKey):
            raw = private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            jwk["d"] = b64url_encode(raw).decode()
        elif isinstance(private, rsa.RSAPrivateKey):
            jwk.update(_rsa_private_members(private))
        else:
            raise KeyFormatError("a public key has no private JWK")
        return jwk

    def private_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM of the private key (seal it before storing)."""
        if self._private is None:
            raise KeyFormatError("no private key")
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""
        if self._public is None:
            raise KeyFormatError("an HMAC key has no public PEM")
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    # ---------------------------------------------------------- sign/verify
    def sign(self, message: bytes) -> bytes:
        """The JWS signature of ``message`` (raw r||s for ECDSA, RFC 7518 section 3.4)."""
        private = self._private
        if self._secret is not None:
            return hmac.new(self._secret, message, _HMAC_HASHES[self.alg]).digest()
        if isinstance(private, ec.EllipticCurvePrivateKey):
            _, _, digest, size = _EC_CURVES[self.alg]
            r, s = decode_dss_signature(private.sign(message, ec.ECDSA(digest)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if isinstance(private, ed25519.Ed25519PrivateKey):
            return private.sign(message)
        if isinstance(private, rsa.RSAPrivateKey):
            return private.sign(message, _rsa_padding(self.alg), _RSA_HASHES[self.alg])
        raise KeyFormatError("a public key cannot sign")

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``message`` under this key."""
        return self._verify(message, signature)

    def __repr__(self) -> str:
        kind = "private" if self.is_private else "public"
        return f"Key(alg={self.alg!r}, kid={self.kid!r}, {kind})"

    # -------------------------------------------------------------- internal
    def _jwk_public_members(self) -> dict[str, Any]:
        public = self._public
        if isinstance(public, ec.EllipticCurvePublicKey):
            crv, _, _, size = _EC_CURVES[self.alg]
            numbers = public.public_numbers()
            return {
                "kty": "EC",
                "crv": crv,
                "x": _int_b64(numbers.x, size),
                "y": _int_b64(numbers.y, size),
            }
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw).decode()}
        if isinstance(public, rsa.RSAPublicKey):
            rsa_numbers = public.public_numbers()
            return {"kty": "RSA", "n": _int_b64(rsa_numbers.n), "e": _int_b64(rsa_numbers.e)}
        assert self._secret is not None
        return {"kty": "oct", "k": b64url_encode(self._secret).decode()}

    def _make_verifier(self) -> Callable[[bytes, bytes], bool]:
        public = self._public
        if self._secret is not None:
            return _hmac_verifier(self._secret, _HMAC_HASHES[self.alg])
        if isinstance(public, ec.EllipticCurvePublicKey):
            return _ec_verifier(public, self.alg)
        if isinstance(public, ed25519.Ed25519PublicKey):
            return _ed_verifier(public)
        assert isinstance(public, rsa.RSAPublicKey)
        return _rsa_verifier(public, self.alg)


# --------------------------------------------------------------- verifiers
def _hmac_verifier(secret: bytes, digest: Callable[..., Any]) -> Callable[[bytes, bytes], bool]:
    def verify(message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(hmac.new(secret, message, digest).digest(), signature)

    return verify


def _ec_verifier(public: ec.EllipticCurvePublicKey, alg: str) -> Callable[[bytes, bytes], bool]:
    crv, _, digest, size = _EC_CURVES[alg]
    order = _CURVE_ORDERS[crv]
    algorithm = ec.ECDSA(digest)

    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        # 0 < r, s < n, checked here as well as by OpenSSL (CVE-2022-21449 class).
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            public.verify(encode_dss_signature(r, s), message, algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def _ed_verifier(public: ed25519.Ed25519PublicKey) -> Callable[[bytes, bytes], bool]:
    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return verify


def _rsa_verifier(public: rsa.RSAPublicKey, alg: str) -> Callable[[bytes, bytes], bool]:
    size = (public.key_size + 7) // 8
    pad = _rsa_padding(alg)
    digest = _RSA_HASHES[alg]

    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != size:
            return False
        try:
            public.verify(signature, message, pad, digest)
        except InvalidSignature:
            return False
        return True

    return verify


def _rsa_padding(alg: str) -> padding.AsymmetricPadding:
    if alg.startswith("PS"):
        return padding.PSS(
            mgf=padding.MGF1(_RSA_HASHES[alg]), salt_length=_RSA_HASHES[alg].digest_size
        )
    return padding.PKCS1v15()


# ------------------------------------------------------------------ loading
def _check_pairing(alg: str, public: _PublicKey | None, secret: bytes | None) -> str:
    """The JWK ``kty`` for this key, after checking it suits ``alg``."""
    if alg in _HMAC_HASHES:
        if secret is None:
            raise KeyFormatError(f"{alg} needs a secret")
        return "oct"
    if secret is not None:
        raise KeyFormatError(f"{alg} cannot use a secret")
    if alg in _EC_CURVES and isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name != _EC_CURVES[alg][1].name:
            raise KeyFormatError(f"{alg} needs curve {_EC_CURVES[alg][0]}")
        return "EC"
    if alg in _EDDSA and isinstance(public, ed25519.Ed25519PublicKey):
        return "OKP"
    if alg in _RSA_HASHES and isinstance(public, rsa.RSAPublicKey):
        if public.key_size < MIN_RSA_BITS:
            raise InsecureKeyError(f"RSA keys need at least {MIN_RSA_BITS} bits")
        return "RSA"
    raise KeyFormatError(f"key type does not suit {alg}")


def _default_alg(loaded: Any) -> str:
    if isinstance(loaded, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        for alg, (_, curve, _, _) in _EC_CURVES.items():
            if curve.name == loaded.curve.name:
                return alg
    if isinstance(loaded, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(loaded, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    raise KeyFormatError("unsupported key type")


def _jwk_alg(jwk: dict[str, Any], alg: str | None) -> str:
    declared = jwk.get("alg")
    if declared is not None and alg is not None and declared != alg:
        raise KeyFormatError("JWK alg disagrees with the expected algorithm")
    chosen = declared or alg
    if chosen is None:
        known: dict[tuple[Any, Any], str] = {
            ("EC", "P-256"): "ES256",
            ("EC", "P-384"): "ES384",
            ("EC", "P-521"): "ES512",
            ("OKP", "Ed25519"): "EdDSA",
        }
        kty, crv = jwk.get("kty"), jwk.get("crv")
        if isinstance(kty, str) and isinstance(crv, str):
            chosen = known.get((kty, crv))
    if not isinstance(chosen, str) or chosen not in SUPPORTED_ALGORITHMS:
        raise KeyFormatError("JWK has no usable alg")
    return chosen


def _load_jwk_material(
    kty: Any, jwk: dict[str, Any]
) -> tuple[_PrivateKey | None, _PublicKey | None]:
    if kty == "EC":
        curves: dict[Any, ec.EllipticCurve] = {
            "P-256": ec.SECP256R1(),
            "P-384": ec.SECP384R1(),
            "P-521": ec.SECP521R1(),
        }
        curve = curves.get(jwk.get("crv"))
        if curve is None:
            raise KeyFormatError("unsupported EC curve")
        pub = ec.EllipticCurvePublicNumbers(_b64_int(jwk, "x"), _b64_int(jwk, "y"), curve)
        if "d" in jwk:
            priv = ec.EllipticCurvePrivateNumbers(_b64_int(jwk, "d"), pub).private_key()
            return priv, None
        return None, pub.public_key()
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise KeyFormatError("unsupported OKP curve")
        if "d" in jwk:
            return ed25519.Ed25519PrivateKey.from_private_bytes(_jwk_bytes(jwk, "d")), None
        return None, ed25519.Ed25519PublicKey.from_public_bytes(_jwk_bytes(jwk, "x"))
    if kty == "RSA":
        public_numbers = rsa.RSAPublicNumbers(_b64_int(jwk, "e"), _b64_int(jwk, "n"))
        if "d" in jwk:
            return _rsa_private_from_jwk(jwk, public_numbers), None
        return None, public_numbers.public_key()
    raise KeyFormatError("unsupported JWK kty")


def _rsa_private_from_jwk(jwk: dict[str, Any], public: rsa.RSAPublicNumbers) -> rsa.RSAPrivateKey:
    names = ("p", "q", "dp", "dq", "qi")
    if not all(name in jwk for name in names):
        raise KeyFormatError("RSA private JWK needs p, q, dp, dq and qi")
    p, q, dp, dq, qi = (_b64_int(jwk, name) for name in names)
    return rsa.RSAPrivateNumbers(p, q, _b64_int(jwk, "d"), dp, dq, qi, public).private_key()


def _rsa_private_members(private: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = private.private_numbers()
    return {
        "d": _int_b64(numbers.d),
        "p": _int_b64(numbers.p),
        "q": _int_b64(numbers.q),
        "dp": _int_b64(numbers.dmp1),
        "dq": _int_b64(numbers.dmq1),
        "qi": _int_b64(numbers.iqmp),
    }
