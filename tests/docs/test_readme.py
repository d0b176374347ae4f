"""The README's guard example runs as printed."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

from authority.helpers import ServerThread


class Answer(NamedTuple):
    code: int
    headers: dict[str, str]


README = Path(__file__).resolve().parents[2] / "README.md"


def _block(language: str, marker: str) -> str:
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)
    return next(block for block in blocks if marker in block)


def test_the_guard_example_refuses_a_request_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "policy.toml").write_text(_block("toml", "[[routes]]"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_block("python", "GuardMiddleware"), "README.md", "exec"), namespace)
    with ServerThread(namespace["app"]) as server:  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{server.port}/orders"
        bare = _post(url, {})
        garbage = _post(url, {"Authorization": "Bearer not.a.jwt"})
    assert bare.code == 401
    assert bare.headers["www-authenticate"] == 'Bearer realm="jwtmesh"'
    assert garbage.code == 401
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]


def _post(url: str, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(url, data=b"", headers=headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()})
