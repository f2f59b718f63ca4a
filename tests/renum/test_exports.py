"""The public surface of the service modules, pinned."""

from __future__ import annotations

import renum
import renum.errors


def test_renum_exports() -> None:
    assert renum.__all__ == ["__version__"]


def test_error_tree() -> None:
    names = set(renum.errors.__all__)
    assert {"RenumError", "NotFoundError", "AuthenticationError", "install_error_handlers"} <= names
    for name in names:
        obj = getattr(renum.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, renum.errors.RenumError)
