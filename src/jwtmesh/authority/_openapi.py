"""The OpenAPI description of the authority's real requests and answers.

The handlers parse their bodies themselves (strictly, see ``_http``), so FastAPI
cannot infer the request bodies; these fragments describe them, for clients and
for the schema-driven fuzz test. They document, they do not validate.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.responses import Response

from jwtmesh.authority._http import MAX_FIELD_CHARS
from jwtmesh.authority._tokens import GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE

__all__ = [
    "FEED",
    "INTROSPECT",
    "LOGIN",
    "LOGOUT",
    "MAX_CURSOR",
    "MAX_PASSWORD_CHARS",
    "MAX_USERNAME_CHARS",
    "REVOKE",
    "TOKEN",
    "install_openapi",
    "json_get",
]

MAX_USERNAME_CHARS = 256
MAX_PASSWORD_CHARS = 1024
MAX_LOGIN_OPTION_CHARS = 200
MAX_CURSOR = 2**63 - 1

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
# Basic is optional: public clients send their client_id only.
_BASIC: list[dict[str, list[str]]] = [{}, {"clientBasic": []}]


def _text(max_len: int = MAX_FIELD_CHARS, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_len, **extra}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}, **extra}


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_TOKENS_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "minimum": 0},
        "scope": {"type": "string"},
        "refresh_token": {"type": "string"},
        "issued_token_type": {"type": "string"},
    },
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the lock ends",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _errors(*statuses: int) -> dict[str, Any]:
    """RFC 6749 section 5.2 error answers; 413 (body cap) applies to every POST."""
    texts = {
        400: "Invalid request; error_description names the field",
        401: "Authentication failed (invalid_client, invalid_grant or invalid_token)",
        413: "The request body is larger than JWTMESH_MAX_BODY_BYTES",
        429: "Too many failed attempts: error slow_down; wait Retry-After seconds",
    }
    out = {str(s): _json(_ERROR_SCHEMA, texts[s]) for s in statuses}
    if 429 in statuses:
        out["429"]["headers"] = _RETRY_AFTER
    return out


def _form_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {_FORM: {"schema": schema}}}}


_CLIENT_FIELDS = {"client_id": _text(200), "client_secret": _text()}
_TOKEN_FIELDS = {"token": _text(minLength=1), "token_type_hint": _text(40)}

LOGIN: dict[str, Any] = {
    "summary": "Check a password; issue an access token and a refresh token",
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": _text(MAX_USERNAME_CHARS, minLength=1),
                            "password": _text(MAX_PASSWORD_CHARS, minLength=1),
                            "client_id": _text(MAX_LOGIN_OPTION_CHARS),
                            "audience": _text(MAX_LOGIN_OPTION_CHARS),
                            "scope": _text(MAX_LOGIN_OPTION_CHARS),
                        },
                    }
                }
            },
        },
        "responses": {"200": _json(_TOKENS_SCHEMA, "Tokens (RFC 6749 section 5.1)")},
    },
    "responses": _errors(400, 401, 413, 429),
}

TOKEN: dict[str, Any] = {
    "summary": "OAuth 2.0 token endpoint: refresh_token, client_credentials, token exchange",
    "openapi_extra": {
        **_form_body(
            {
                "grant_type": _text(
                    200, enum=[GRANT_REFRESH, GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE]
                ),
                "refresh_token": _text(),
                "scope": _text(),
                "audience": _text(),
                "resource": _text(),
                "subject_token": _text(),
                "subject_token_type": _text(200),
                "requested_token_type": _text(200),
                **_CLIENT_FIELDS,
            },
            ["grant_type"],
        ),
        "security": _BASIC,
        "responses": {"200": _json(_TOKENS_SCHEMA, "Tokens (RFC 6749 section 5.1)")},
    },
    "responses": _errors(400, 401, 413, 429),
}

REVOKE: dict[str, Any] = {
    "summary": "Revoke a refresh token's family or an access token (RFC 7009)",
    "response_class": Response,
    "openapi_extra": {
        **_form_body({**_TOKEN_FIELDS, **_CLIENT_FIELDS}, ["token"]),
        "security": _BASIC,
        "responses": {"200": {"description": "Revoked, or unknown (RFC 7009 section 2.2)"}},
    },
    "responses": _errors(400, 401, 413),
}

INTROSPECT: dict[str, Any] = {
    "summary": "What a token is, for a confidential client (RFC 7662)",
    "openapi_extra": {
        **_form_body({**_TOKEN_FIELDS, **_CLIENT_FIELDS}, ["token"]),
        "security": [{"clientBasic": []}, {}],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "required": ["active"],
                    "properties": {"active": {"type": "boolean"}},
                },
                "Introspection answer",
            )
        },
    },
    "responses": _errors(400, 401, 413),
}

LOGOUT: dict[str, Any] = {
    "summary": "End a session: revoke the access token and its refresh-token family",
    "status_code": 204,
    "response_class": Response,
    "openapi_extra": {
        "requestBody": {
            "required": False,
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {"refresh_token": _text(MAX_LOGIN_OPTION_CHARS)},
                    }
                }
            },
        },
        "security": [{"bearer": []}],
        "responses": {"204": {"description": "Logged out"}},
    },
    "responses": _errors(400, 401, 413),
}

FEED: dict[str, Any] = {
    "summary": "Revocation events after a cursor, long-polling up to `wait` seconds",
    "openapi_extra": {
        "parameters": [
            {
                "name": "after",
                "in": "query",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR},
            },
            {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0}},
        ],
        "security": [{"clientBasic": []}, {}],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "required": ["cursor", "events"],
                    "properties": {
                        "cursor": {"type": "integer"},
                        "events": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "Events, oldest first",
            )
        },
    },
    "responses": _errors(400, 401),
}


def json_get(summary: str, *extra_statuses: int) -> dict[str, Any]:
    """A GET answering a JSON object (metadata, JWKS, health)."""
    responses = {str(s): _json({"type": "object"}, "Unavailable") for s in extra_statuses}
    return {
        "summary": summary,
        "openapi_extra": {"responses": {"200": _json({"type": "object"}, "OK")}},
        "responses": responses,
    }


def install_openapi(app: FastAPI) -> None:
    """Add the security schemes (client Basic, Bearer) to the generated document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            doc.setdefault("components", {})["securitySchemes"] = {
                "clientBasic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
