"""The one helper thread: jobs run in order on it, and its first error is raised on the caller's thread.

Every stage that overlaps with another on a second core goes through a :class:`Worker`: the
per-file and tar-stream hashes of pack, the hash of a layer blob while unpack reads it, the
direct-I/O writes of pack and unpack, the writeback of a blob being written and the disk writes
of a download. ``hashlib`` and file writes release the GIL on large buffers, so a job runs while
the submitting thread reads the next piece.

The error hand-off is the same for all of them: a job that raises makes the worker *failed*;
the jobs queued after it are skipped (they still count as done, so nobody waits forever), and
the error is raised by the caller's next :meth:`Worker.wait` or :meth:`Worker.check`.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

__all__ = ["Worker"]


class Worker:
    """A daemon thread running the callables given to :meth:`submit`, one at a time, in order.

    ``submit`` returns a ticket (1, 2, …); ``wait(ticket)`` returns once that job and every
    earlier one are done. A job's arguments (buffers, memoryviews) are released as soon as it
    has run, so a buffer whose job is done may be reused or unmapped.
    """

    def __init__(self, name: str) -> None:
        self._jobs: collections.deque[Callable[[], object] | None] = collections.deque()
        self._cond = threading.Condition()
        self.submitted = 0
        self.done = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                job = self._jobs.popleft()
            if job is None:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as e:  # raised on the caller's thread at its next wait
                    self._error = e
            del job  # drop the buffers it holds before anyone is told it is done
            with self._cond:
                self.done += 1
                self._cond.notify_all()

    def submit(self, job: Callable[[], object]) -> int:
        """Queue ``job``; returns its ticket."""
        with self._cond:
            self._jobs.append(job)
            self.submitted += 1
            self._cond.notify_all()
            return self.submitted

    def wait(self, ticket: int) -> None:
        """Return once job ``ticket`` (and every earlier one) has run; raise a job's error."""
        if self.done < ticket:
            with self._cond:
                while self.done < ticket:
                    self._cond.wait()
        self.check()

    def wait_all(self) -> None:
        self.wait(self.submitted)

    def fence(self, ticket: int) -> Callable[[], None]:
        """A function that waits for job ``ticket``: what a buffer's reuser calls first."""
        return lambda: self.wait(ticket)

    def check(self) -> None:
        """Raise the error of a failed job, if there was one (again on every call)."""
        if self._error is not None:
            raise self._error

    def fail(self, error: BaseException) -> None:
        """Mark the worker failed from the caller's side: queued jobs are skipped."""
        if self._error is None:
            self._error = error

    @property
    def idle(self) -> bool:
        return self.done == self.submitted

    @property
    def backlog(self) -> int:
        """Jobs submitted and not yet done (the running one included)."""
        return self.submitted - self.done

    def stop(self) -> None:
        """Let the queued jobs finish, end the thread; errors stay for :meth:`check`."""
        if self._thread.is_alive():
            with self._cond:
                self._jobs.append(None)
                self._cond.notify_all()
            self._thread.join()
