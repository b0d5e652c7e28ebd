"""The connection to the Docker engine, and the one clear error when there is none."""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException

from agentlab.errors import SandboxUnavailableError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
CONNECT_TIMEOUT_S = 5.0
"""How long to wait for the engine to answer at all; an absent engine fails fast."""
API_TIMEOUT_S = 120.0
"""Per-request timeout once connected (container create/start/remove)."""

UNAVAILABLE = (
    "Docker engine not reachable at {host}: start it with `dockerd &` (as root; "
    "`make docker-engine` does it) or install docker.io (`apt-get install docker.io`). "
    "Set DOCKER_HOST to use another engine. Code is never run outside the sandbox. ({cause})"
)


def docker_host(base_url: str | None = None) -> str:
    """The engine address in use: the argument, else DOCKER_HOST, else the default socket."""
    return base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def connect(
    base_url: str | None = None,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    timeout: float = API_TIMEOUT_S,
) -> docker.DockerClient:
    """A client for a live engine, or `SandboxUnavailableError` within `connect_timeout`."""
    host = docker_host(base_url)
    try:
        # version="auto" asks the engine for its API version right away, so a dead
        # address fails here, under the short timeout, instead of on first use.
        client = docker.DockerClient(base_url=host, version="auto", timeout=connect_timeout)
        client.ping()
    except (DockerException, RequestException, OSError) as exc:
        raise SandboxUnavailableError(
            UNAVAILABLE.format(host=host, cause=_short(exc)), docker_host=host
        ) from exc
    client.api.timeout = timeout
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
