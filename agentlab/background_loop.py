"""An event loop on its own thread, where coroutine-only tools and MCP sessions run.

The graph's nodes are synchronous (under `ainvoke` LangGraph runs them in worker
threads, so the caller's event loop is never blocked). A tool that only has a
coroutine (`ainvoke`, as every MCP tool) is scheduled on this loop instead of a
tool thread: the step engine gets a `concurrent.futures.Future` it waits on with
the same deadline as any call, and cancelling it cancels the coroutine. The MCP
sessions agentlab opens live on the same loop, so their tools' coroutines run
where their streams were made. One loop per process, started on first use.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's background loop, started (on a daemon thread) on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="agentlab-async", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule `coroutine` on the background loop; cancelling the future cancels it."""
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop())


def run(coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coroutine` on the background loop and wait for its result (from another thread)."""
    future = submit(coroutine)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
