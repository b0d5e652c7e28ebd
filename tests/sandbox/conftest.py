"""Fixtures for the sandbox tests: a live engine, the built image, a shared warm pool.

These tests run against the real Docker engine (`make test` starts one and builds
the image). A missing engine or image fails them with the fix; they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from agentlab.sandbox import SandboxPool, Session, connect, image_tag
from agentlab.sandbox.image import image_exists


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    client = connect()
    tag = image_tag()
    if not image_exists(client, tag):
        pytest.fail(f"sandbox image {tag} missing: run `make sandbox-image` first", pytrace=False)
    return client


@pytest.fixture(scope="session")
def pool(docker_client: docker.DockerClient) -> Iterator[SandboxPool]:
    """Two warm containers shared by the tests; each test still gets its own container."""
    with SandboxPool(size=2, client=docker_client) as warm:
        yield warm


@pytest.fixture
def session(pool: SandboxPool) -> Iterator[Session]:
    """A fresh session (its own container) from the warm pool."""
    with pool.session() as fresh:
        yield fresh
