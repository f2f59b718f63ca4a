"""Request bodies are bounded while they are read, and JSON bodies are strict, before any
route (or authentication) sees them.

- A body larger than :data:`MAX_BODY_BYTES` is a 413 as soon as its ``Content-Length``
  says so, or as soon as that many bytes have arrived: nothing larger is held in memory.
- A JSON body may not hold what JSON does not allow or PostgreSQL cannot store: ``NaN``,
  ``Infinity``, numbers too large for a float (``1e309``), lone surrogates (``\\ud800``)
  and NUL characters. Each is a 422 naming where it is (a JSON pointer).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renum.errors import problem_response

__all__ = ["MAX_BODY_BYTES", "BodyLimits", "json_problem"]

#: Largest request body accepted: a launch's 200,000-character prompt, escaped, fits.
MAX_BODY_BYTES = 2 * 1024 * 1024
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _NotJson(ValueError):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJson(f"{text[:40]} is too large for a number")
    return value


def _pointer(path: list[str]) -> str:
    return "/body" + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _unstorable(value: Any, path: list[str]) -> tuple[str, str] | None:
    """(pointer, why) of the first string (key or value) that cannot be stored, or None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            found = _UNSTORABLE.search(item)
            if found:
                why = "NUL is not allowed" if found.group() == "\x00" else \
                    "a lone surrogate is not text"  # fmt: skip
                return _pointer(where), why
        elif isinstance(item, dict):
            for key, child in item.items():
                if _UNSTORABLE.search(key):
                    return _pointer([*where, key.encode("utf-8", "replace").decode()]), \
                        "a key holds a character that cannot be stored"  # fmt: skip
                stack.append((child, [*where, key]))
        elif isinstance(item, list):
            stack.extend((child, [*where, str(i)]) for i, child in enumerate(item))
    return None


def json_problem(body: bytes) -> tuple[str, str] | None:
    """(pointer, why) if ``body`` holds JSON that is refused here, else None (malformed JSON
    is left to the route's own validation, which names it)."""
    try:
        document = json.loads(body, parse_constant=_constant, parse_float=_finite)
    except _NotJson as exc:
        return "/body", exc.what
    except (ValueError, RecursionError):
        return None
    return _unstorable(document, [])


class BodyLimits:
    """ASGI middleware: the size bound and strict JSON (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if b"json" in headers.get(b"content-type", b"").lower():
            problem = json_problem(bytes(body))
            if problem is not None:
                where, why = problem
                response = problem_response(
                    422, "validation_error", f"The request is invalid at {where}: {why}",
                    instance=scope["path"],
                    errors=[{"path": where, "code": "invalid_value", "message": why}],
                )  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "payload_too_large",
            f"The request body is larger than {self.max_bytes} bytes", instance=scope["path"],
            headers={"Connection": "close"},
        )  # fmt: skip
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body read here, once, then the client's messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
