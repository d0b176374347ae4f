"""The public names of jwtmesh.jose do not drift."""

from __future__ import annotations

import jwtmesh.jose
from jwtmesh.jose import errors


def _isort_order(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions; each alphabetical."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists() -> None:
    names = jwtmesh.jose.__all__

    assert names == sorted(names, key=_isort_order)
    assert len(names) == len(set(names))
    assert all(hasattr(jwtmesh.jose, name) for name in names)


def test_every_error_is_exported_from_the_package() -> None:
    assert set(errors.__all__) <= set(jwtmesh.jose.__all__)


def test_every_invalid_token_error_has_a_distinct_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    token_errors = [cls for cls in classes if issubclass(cls, errors.InvalidTokenError)]
    codes = [cls.code for cls in token_errors if cls is not errors.InvalidTokenError]

    assert len(codes) == len(set(codes)) == len(token_errors) - 1
