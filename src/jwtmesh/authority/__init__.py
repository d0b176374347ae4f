"""The token authority: login, OAuth 2.0 token endpoint, JWKS, revocation.

>>> settings = AuthoritySettings.from_env()      # JWTMESH_* variables
>>> app = create_app(settings)                    # FastAPI; or serve(settings, host, port)

Endpoints: ``POST /login``, ``POST /oauth/token`` (refresh_token,
client_credentials, token exchange), ``POST /oauth/revoke``,
``POST /oauth/introspect``, ``POST /logout``, ``GET /oauth/revocations``,
``GET /.well-known/jwks.json``, ``GET /.well-known/oauth-authorization-server``,
``GET /.well-known/openid-configuration``, ``GET /healthz``.
"""

from jwtmesh.authority._admin import (
    KNOWN_GRANT_TYPES,
    add_client,
    add_public_client,
    add_user,
    serve,
)
from jwtmesh.authority._app import create_app
from jwtmesh.authority._errors import (
    AuthorityError,
    ConfigError,
    OAuthError,
    SettingsError,
    StartupError,
)
from jwtmesh.authority._keyring import KeyRing, KeyRingError, KeyTiming, Rotation
from jwtmesh.authority._keys_admin import import_key, list_keys, retire_key, rotate_keys
from jwtmesh.authority._service import Authority, TokenResponse
from jwtmesh.authority._settings import AuthoritySettings, decode_kek
from jwtmesh.authority._setup import build_authority
from jwtmesh.authority._tokens import (
    ADMIN_SCOPE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_LOGIN,
    GRANT_REFRESH,
    GRANT_TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS,
)

__all__ = [
    "ADMIN_SCOPE",
    "GRANT_CLIENT_CREDENTIALS",
    "GRANT_LOGIN",
    "GRANT_REFRESH",
    "GRANT_TOKEN_EXCHANGE",
    "KNOWN_GRANT_TYPES",
    "TOKEN_TYPE_ACCESS",
    "Authority",
    "AuthorityError",
    "AuthoritySettings",
    "ConfigError",
    "KeyRing",
    "KeyRingError",
    "KeyTiming",
    "OAuthError",
    "Rotation",
    "SettingsError",
    "StartupError",
    "TokenResponse",
    "add_client",
    "add_public_client",
    "add_user",
    "build_authority",
    "create_app",
    "decode_kek",
    "import_key",
    "list_keys",
    "retire_key",
    "rotate_keys",
    "serve",
]
