"""When a registry request is tried again: the retry policy and rewinding a request body.

* Retries: 408/429/5xx and connection resets, full-jitter exponential backoff, ``Retry-After``
  (seconds or HTTP-date) honoured up to a cap; only requests whose body can be rewound.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ocikit._registry._http import Body

__all__ = ["MAX_RESUMES", "RetryPolicy", "body_start", "rewind"]

#: Resumes of one download, and interruptions in a row of one chunked upload, before giving up.
MAX_RESUMES = 5


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``sleep`` is injectable so tests run instantly."""

    attempts: int = 5
    base: float = 0.25
    cap: float = 8.0
    max_retry_after: float = 60.0
    #: Manifest PUTs answered MANIFEST_BLOB_UNKNOWN right after the blobs were pushed (eventual
    #: consistency): this many attempts, waiting ``settle_base * 2**n`` (capped) in between.
    settle_attempts: int = 5
    settle_base: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            wait = _parse_retry_after(retry_after)
            if wait is not None:
                return min(max(wait, 0.0), self.max_retry_after)
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))  # noqa: S311 - jitter

    def settle_delay(self, attempt: int) -> float:
        """Wait before re-trying something we just wrote and the registry does not see yet."""
        return float(min(self.cap, self.settle_base * (2**attempt)))


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def rewind(body: Body, start: int | None) -> bool:
    """Put a request body back at its start so it can be sent again; False if impossible."""
    if body is None or isinstance(body, bytes):
        return True
    if start is None:
        return False
    try:
        body.seek(start)
    except (OSError, ValueError, AttributeError):
        return False
    return True


def body_start(body: Body) -> int | None:
    """Where a request body starts (for :func:`rewind`); None if it cannot be sent twice."""
    if body is None or isinstance(body, bytes):
        return 0
    try:
        if not body.seekable():
            return None
        return body.tell()
    except (OSError, ValueError, AttributeError):
        return None
