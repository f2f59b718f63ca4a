"""No bearer token in a log line: uvicorn logs every WebSocket it accepts or refuses with
its path and query string, and the seed's clients pass their token as ``?token=``.

:func:`install` adds a filter to uvicorn's loggers that replaces the value of any
``token`` or ``access_token`` query parameter with ``***`` before the line is written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["RedactTokens", "install", "redact"]

_TOKEN = re.compile(r"((?:[?&]|\b)(?:access_)?token=)[^&\s\"'#]+", re.IGNORECASE)
#: The loggers that write request lines (uvicorn's WebSocket lines go to uvicorn.error).
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """``text`` with every ``token=…`` value replaced by ``***``."""
    return _TOKEN.sub(r"\1***", text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """Rewrites a record's message and arguments so that no token value is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def install() -> None:
    """Add the filter to uvicorn's loggers (once)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
