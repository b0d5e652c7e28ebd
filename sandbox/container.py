"""One sandbox container with its kernel attached: how it is started, limited and removed.

`container_config` is the single place where the isolation is spelled out; every
container agentlab starts goes through it.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit
from requests.exceptions import RequestException

from agentlab.errors import AgentlabError
from agentlab.sandbox.channel import ChannelError, KernelChannel
from agentlab.sandbox.limits import SANDBOX_UID, WORK_DIR, SandboxLimits
from agentlab.sandbox.protocol import PingReply

LABEL = "agentlab.sandbox"
LABEL_OWNER = "agentlab.sandbox.owner"
KERNEL_START_S = 30.0

# Only what the kernel needs; nothing of the host's environment is passed on.
CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": WORK_DIR,
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "PYTHONDONTWRITEBYTECODE": "1",
}


class SandboxError(AgentlabError):
    """A sandbox container could not be started or talked to (the engine answered)."""


def owner_id() -> str:
    """This process, as written into the owner label: host name, pid and start time.

    The start time tells a live owner from a later process that reused the pid.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def owner_alive(owner: str) -> bool:
    """Whether the process named by an owner label still runs (only knowable on its host)."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's container: not ours to judge
    return os.path.exists(f"/proc/{pid}") and _process_start(int(pid)) == start


def container_config(image: str, limits: SandboxLimits) -> dict[str, Any]:
    """Keyword arguments for `containers.create`: the whole isolation policy."""
    mib = 1024 * 1024
    tmpfs_opts = "rw,nosuid,nodev,noexec"
    return {
        "image": image,
        "command": ["python3", "-I", "-s", "/opt/agentlab/kernel.py"],
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "working_dir": WORK_DIR,
        "environment": dict(CLEAN_ENV),
        "hostname": "sandbox",
        "labels": {LABEL: "1", LABEL_OWNER: owner_id()},
        "stdin_open": True,
        "tty": False,
        # Not detached: then docker-py sets StdinOnce, and the engine closes the kernel's
        # stdin when our attached connection goes away, so the kernel exits and the
        # container stops (and is removed) even when this process is SIGKILLed.
        "detach": False,
        # No init: the kernel's supervisor is PID 1 itself, non-dumpable, and the only
        # holder of the container's stdio (an init process would hold the host channel
        # too, reachable through its /proc/1/fd). It reaps orphans itself.
        "init": False,
        "network_mode": "bridge" if limits.network else "none",
        "read_only": limits.read_only_root,
        "tmpfs": {
            WORK_DIR: f"{tmpfs_opts},size={limits.work_dir_bytes // mib}m,"
            f"uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700",
            "/tmp": f"{tmpfs_opts},size={limits.tmp_bytes // mib}m,mode=1777",
        },
        "shm_size": f"{limits.shm_bytes // mib}m",
        "ipc_mode": "private",
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,  # equal to the memory limit: no swap
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "ulimits": [Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile)],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        # The kernel's stdout is the protocol; the engine must not write it to disk.
        "log_config": LogConfig(type=LogConfig.types.NONE),
        "volumes": {},
        # A container whose kernel ended (closed, crashed, owner killed) removes itself.
        "auto_remove": True,
    }


class Kernel:
    """A running sandbox container and the channel to its kernel."""

    def __init__(self, container: Any, channel: KernelChannel, limits: SandboxLimits) -> None:
        self.container = container
        self.channel = channel
        self.limits = limits
        self.info: PingReply | None = None
        """The kernel's answer to the first ping (its Python version and pid)."""
        self._closed = False

    @property
    def id(self) -> str:
        return str(self.container.id)

    @classmethod
    def start(cls, client: docker.DockerClient, image: str, limits: SandboxLimits) -> Kernel:
        """Create and start a container and wait until its kernel answers."""
        try:
            container = client.containers.create(**container_config(image, limits))
        except ImageNotFound as exc:
            raise SandboxError(
                f"the sandbox image {image} is missing: build it with "
                "`agentlab sandbox build --offline` (or `make sandbox-image`)"
            ) from exc
        except (APIError, DockerException, RequestException) as exc:
            raise SandboxError(f"cannot create a sandbox container: {exc}") from exc
        _LIVE.add(container)
        kernel: Kernel | None = None
        try:
            container.start()
            kernel = cls(container, KernelChannel.attach(container, limits), limits)
            kernel.info = kernel.channel.request({"op": "ping"}, PingReply, KERNEL_START_S)
        except (APIError, DockerException, RequestException, ChannelError) as e:
            detail = kernel.channel.stderr_text()[-500:] if kernel else ""
            _remove(container)
            raise SandboxError(f"the sandbox kernel did not start: {e!r} {detail}") from e
        return kernel

    def alive(self) -> bool:
        try:
            self.container.reload()
        except (NotFound, APIError, RequestException):
            return False
        return bool(self.container.status == "running")

    def oom_killed(self) -> bool:
        """Whether the engine saw the container's main process killed for memory."""
        try:
            self.container.reload()
            return bool(self.container.attrs["State"].get("OOMKilled"))
        except (NotFound, APIError, RequestException):
            return False

    def close(self) -> None:
        """Remove the container (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.channel.close()
        _remove(self.container)


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except NotFound:
        pass
    except (APIError, DockerException, RequestException):
        # The engine is going away too; prune removes the container later.
        pass
    _LIVE.discard(container)


class _LiveContainers:
    """Every container this process started and has not removed; reaped at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._containers: dict[str, Any] = {}

    def add(self, container: Any) -> None:
        with self._lock:
            self._containers[container.id] = container

    def discard(self, container: Any) -> None:
        with self._lock:
            self._containers.pop(container.id, None)

    def reap(self) -> None:
        with self._lock:
            containers = list(self._containers.values())
        for container in containers:
            _remove(container)


_LIVE = _LiveContainers()
atexit.register(_LIVE.reap)


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
