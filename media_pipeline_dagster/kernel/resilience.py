"""How a failure is handled depends on its kind, decided here once for every domain.

* transient: worth another try with backoff (timeouts, 408/425/429, 5xx);
* permanent: about one item, record it and do not retry until someone asks (404, other 4xx,
  a body that is not what was expected);
* systemic: nothing else in the run can succeed either (our own credentials refused, our
  bucket or endpoint gone, the catalog unreachable): stop the run at once with one
  sentence naming the cause, instead of failing every item the same way.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    SYSTEMIC = "systemic"


class SystemicError(RuntimeError):
    """The run cannot go on; the message says what failed, with the offending endpoint, and what to do."""


def item_status_kind(status: int) -> ErrorKind:
    """An HTTP status from a server the data points at (a recording's URL): never systemic."""
    if status in (408, 425, 429) or status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def service_status_kind(status: int) -> ErrorKind:
    """An HTTP status from a service we are configured to use (our bucket, an API with our key).

    401 and 403 mean our credentials are refused: retrying cannot help, and every other
    request of the run would get the same answer."""
    if status in (401, 403):
        return ErrorKind.SYSTEMIC
    return item_status_kind(status)
