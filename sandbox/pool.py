"""A warm pool: containers started ahead of need, so a session starts without waiting.

A background thread keeps `size` kernels running and answering. `session()` takes
one (or starts one cold when the pool is empty) and the thread starts a
replacement. Pools are closed, and their containers removed, at interpreter
exit; `prune` removes what a crashed process left behind.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import deque

import docker
from docker.errors import APIError, DockerException, NotFound
from requests.exceptions import RequestException

from agentlab.sandbox.channel import ChannelError
from agentlab.sandbox.client import connect
from agentlab.sandbox.container import LABEL, LABEL_OWNER, Kernel, SandboxError, owner_alive
from agentlab.sandbox.image import image_tag
from agentlab.sandbox.limits import SandboxLimits
from agentlab.sandbox.protocol import PingReply
from agentlab.sandbox.session import Session

HEALTH_CHECK_S = 2.0
RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


class SandboxPool:
    """Pre-started sandbox containers of one image and one set of limits."""

    def __init__(
        self,
        *,
        size: int = 2,
        image: str | None = None,
        limits: SandboxLimits | None = None,
        client: docker.DockerClient | None = None,
    ) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.size = size
        self.image = image or image_tag()
        self.limits = limits or SandboxLimits()
        self._client = client or connect()
        self._ready: deque[Kernel] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.last_error: Exception | None = None
        self._thread = threading.Thread(
            target=self._fill, name="agentlab-sandbox-pool", daemon=True
        )
        self._thread.start()
        _POOLS.add(self)

    # -- public

    def session(self) -> Session:
        """A session on a warm container (or a cold one when none is ready)."""
        return Session(self.acquire(), self._start_kernel)

    def acquire(self) -> Kernel:
        """Take a ready kernel, checking it still answers; start one if none is ready."""
        while True:
            with self._cond:
                if self._closed:
                    raise SandboxError("the sandbox pool is closed")
                kernel = self._ready.popleft() if self._ready else None
                self._cond.notify_all()  # the filler starts a replacement
            if kernel is None:
                return self._start_kernel()
            if self._healthy(kernel):
                return kernel
            kernel.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def ready_count(self) -> int:
        with self._cond:
            return len(self._ready)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until the pool is full (or `timeout`); True when it is."""
        end = time.monotonic() + timeout
        with self._cond:
            while len(self._ready) < self.size and not self._closed:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return len(self._ready) >= self.size

    def close(self) -> None:
        """Stop refilling and remove the ready containers. Sessions already handed out
        are the caller's to close."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            ready = list(self._ready)
            self._ready.clear()
            self._cond.notify_all()
        for kernel in ready:
            kernel.close()
        self._thread.join(timeout=30)
        _POOLS.discard(self)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- machinery

    def _start_kernel(self) -> Kernel:
        return Kernel.start(self._client, self.image, self.limits)

    @staticmethod
    def _healthy(kernel: Kernel) -> bool:
        try:
            kernel.channel.request({"op": "ping"}, PingReply, HEALTH_CHECK_S)
        except ChannelError:
            return False
        return True

    def _fill(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self.size:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                kernel = self._start_kernel()
            except (SandboxError, DockerException, RequestException) as exc:
                # The engine or image is missing: sessions fall back to a cold start,
                # which raises the clear error; keep trying here, slowly.
                self.last_error = exc
                time.sleep(RETRY_BACKOFF_S[min(failures, len(RETRY_BACKOFF_S) - 1)])
                failures += 1
                continue
            failures = 0
            with self._cond:
                if not self._closed:
                    self._ready.append(kernel)
                    self._cond.notify_all()
                    continue
            kernel.close()
            return


class _Pools:
    """Every open pool, closed at interpreter exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: set[SandboxPool] = set()

    def add(self, pool: SandboxPool) -> None:
        with self._lock:
            self._pools.add(pool)

    def discard(self, pool: SandboxPool) -> None:
        with self._lock:
            self._pools.discard(pool)

    def close_all(self) -> None:
        with self._lock:
            pools = list(self._pools)
        for pool in pools:
            pool.close()


_POOLS = _Pools()
atexit.register(_POOLS.close_all)

_SHARED: dict[tuple[str | None, str, SandboxLimits, int], SandboxPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(
    *,
    size: int = 1,
    image: str | None = None,
    limits: SandboxLimits | None = None,
    base_url: str | None = None,
) -> SandboxPool:
    """The process-wide pool for an engine, image and limits, started on first use.

    Raises SandboxUnavailableError when the engine does not answer.
    """
    key = (base_url, image or image_tag(), limits or SandboxLimits(), size)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None or pool.closed:
            pool = SandboxPool(size=size, image=key[1], limits=key[2], client=connect(base_url))
            _SHARED[key] = pool
        return pool


def prune(client: docker.DockerClient | None = None, *, everything: bool = False) -> list[str]:
    """Remove sandbox containers left behind: stopped ones, and running ones whose
    owning process is gone. `everything` removes all sandbox containers, live owners
    or not. Returns the removed container ids."""
    docker_client = client or connect()
    removed = []
    for container in docker_client.containers.list(all=True, filters={"label": LABEL}):
        owner = container.labels.get(LABEL_OWNER, "")
        stale = container.status != "running" or not owner_alive(owner)
        if not (everything or stale):
            continue
        try:
            container.remove(force=True)
            removed.append(str(container.id))
        except NotFound:
            pass
        except APIError as exc:
            raise SandboxError(f"cannot remove container {container.short_id}: {exc}") from exc
    return removed
