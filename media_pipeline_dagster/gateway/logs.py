"""Keeping secrets out of log lines: uvicorn's access log prints the request line, query string
included, and a client may put its key there (``?api_key=…``). The gateway takes no query
parameters, so every query value is replaced by ``***`` before the line is written."""

from __future__ import annotations

import logging
import re

_QUERY_VALUE = re.compile(r"=[^&]*")


def redact_query(path: str) -> str:
    """'/x?api_key=secret&a=1' -> '/x?api_key=***&a=***'."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    return (
        base
        + "?"
        + "&".join(
            _QUERY_VALUE.sub("=***", part) if "=" in part else "***" for part in query.split("&")
        )
    )


class RedactQueryStrings(logging.Filter):
    """For uvicorn's access logger, whose arguments are (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger once (idempotent across app instances)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())
