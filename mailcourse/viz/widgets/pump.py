"""`MainThreadPump`: the one place where the lab's thread hands work to the kernel's.

Why this exists. The lab's servers run on a thread of their own (see
`mailcourse.lab`), and `Trace.subscribe` calls its subscribers on that
thread, the moment a tap records something. A widget is not thread-safe:
setting one of its traits sends a message to the browser through the
kernel's sockets, and doing that from the lab's thread races with the
kernel's main thread, which sends messages of its own (JUPYTER_NOTES). So a
subscriber only appends to a queue; a task on the kernel's own asyncio loop
takes everything queued every ``interval`` seconds and hands it to the
widget, on the main thread, where widget callbacks run too.

The kernel runs its loop only between cells, so a live view updates while
the notebook is idle (for example while a server retries a queued message
in the background), not while a cell is busy. Tests, which have no kernel,
call `drain` themselves.
"""
from __future__ import annotations

import asyncio
import collections
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class MainThreadPump(Generic[T]):
    """Carry items from any thread to ``deliver(items)`` on the thread of an asyncio loop.

    `put` may be called from any thread; `start`, `drain` and `stop` are for
    the kernel's main thread. ``deliver`` is called with every item queued
    since the last call, in order, and only when there is at least one.
    ``alive``, if given, is asked before each round; the task ends once it
    returns False.
    """

    def __init__(self, deliver: Callable[[list[T]], None], interval: float = 0.3,
                 alive: Callable[[], bool] | None = None) -> None:
        self._deliver = deliver
        self.interval = interval
        self._alive = alive  # when it says False (the lab has stopped, say), the task ends
        # deque.append and deque.popleft are atomic: no lock needed between threads.
        self._items: collections.deque[T] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self.errors: list[str] = []  # what ``deliver`` raised (printing would land in whichever cell runs)

    def put(self, item: T) -> None:
        """Queue ``item`` for the next delivery (any thread)."""
        self._items.append(item)

    def drain(self) -> int:
        """Deliver everything queued so far, now, on the calling thread; returns how many."""
        items: list[T] = []
        while True:
            try:
                items.append(self._items.popleft())
            except IndexError:
                break
        if items:
            try:
                self._deliver(items)
            except Exception as error:  # keep pumping: one bad update must not stop the view
                self.errors.append(repr(error))
        return len(items)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> bool:
        """Start draining on the running loop of this thread; False if there is none.

        In a notebook, the kernel's loop is running whenever a cell or a
        widget callback runs, so displaying a widget may start its pump.
        Starting a running pump does nothing.
        """
        if self.running:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._task = loop.create_task(self._run())
        return True

    def stop(self) -> None:
        """Stop the draining task; what is still queued stays for a last `drain`."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while self._alive is None or self._alive():
            await asyncio.sleep(self.interval)
            self.drain()
        self.drain()
