"""The one helper thread (``_io._worker.Worker``): jobs in order, tickets, and the one error hand-off."""

from __future__ import annotations

import threading

import pytest

from ocikit._io._worker import Worker


def _names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_jobs_run_in_order_and_wait_returns_after_the_ticket() -> None:
    worker = Worker("ocikit-test-worker")
    seen: list[int] = []
    gate = threading.Event()
    first = worker.submit(gate.wait)
    tickets = [worker.submit(lambda i=i: seen.append(i)) for i in range(5)]
    assert first == 1 and tickets == [2, 3, 4, 5, 6]
    assert not worker.idle and worker.backlog == 6
    gate.set()
    worker.wait(tickets[2])
    assert seen[:3] == [0, 1, 2]
    worker.wait_all()
    assert seen == [0, 1, 2, 3, 4] and worker.idle
    worker.stop()
    assert "ocikit-test-worker" not in _names()


def test_an_error_is_raised_on_the_callers_thread_and_later_jobs_are_skipped() -> None:
    worker = Worker("ocikit-test-worker")
    ran: list[str] = []
    gate = threading.Event()
    worker.submit(gate.wait)

    def boom() -> None:
        raise OSError(28, "No space left on device")

    worker.submit(boom)
    last = worker.submit(lambda: ran.append("after"))
    gate.set()
    with pytest.raises(OSError, match="No space"):
        worker.wait(last)  # returns (raising): a skipped job still counts as done
    assert ran == []
    with pytest.raises(OSError):
        worker.check()  # the error stays: every later wait sees it
    worker.stop()  # stop never raises
    assert "ocikit-test-worker" not in _names()


def test_fail_skips_what_is_queued() -> None:
    worker = Worker("ocikit-test-worker")
    gate = threading.Event()
    ran: list[int] = []
    worker.submit(gate.wait)
    worker.submit(lambda: ran.append(1))
    worker.fail(RuntimeError("abandoned"))
    gate.set()
    worker.stop()
    assert ran == []
    with pytest.raises(RuntimeError, match="abandoned"):
        worker.check()


def test_a_fence_waits_for_its_job() -> None:
    worker = Worker("ocikit-test-worker")
    gate = threading.Event()
    ticket = worker.submit(gate.wait)
    fence = worker.fence(ticket)
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (fence(), done.set()))
    waiter.start()
    assert not done.is_set()
    gate.set()
    waiter.join(10)
    assert done.is_set()
    worker.stop()
