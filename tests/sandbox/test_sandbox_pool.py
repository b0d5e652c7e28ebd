"""The warm pool: fast starts, labelled containers, reaped on close; prune (issue 3, pool)."""

from __future__ import annotations

import subprocess
import sys
import time

import docker
import pytest

from agentlab.sandbox import SandboxLimits, SandboxPool, image_tag, prune
from agentlab.sandbox.container import LABEL, LABEL_OWNER, container_config, owner_id

pytestmark = pytest.mark.docker


def _ours(client: docker.DockerClient) -> set[str]:
    found = client.containers.list(all=True, filters={"label": f"{LABEL_OWNER}={owner_id()}"})
    return {c.id for c in found}


def test_pool_starts_sessions_warm_and_reaps_on_close(docker_client: docker.DockerClient) -> None:
    before = _ours(docker_client)
    with SandboxPool(size=2, client=docker_client) as pool:
        assert pool.wait_ready(60)
        warm = pool.ready_count()
        assert warm == 2
        prestarted = _ours(docker_client)
        session = pool.session()
        # Warm: the session got a container started before it was asked for.
        assert session.container_id in prestarted
        assert session.run("1 + 1").result == "2"
        labels = docker_client.containers.get(session.container_id).labels
        assert labels[LABEL] == "1" and labels[LABEL_OWNER] == owner_id()
        assert pool.wait_ready(60)  # refilled in the background
        pool_ids = _ours(docker_client) - before
        assert len(pool_ids) == 3  # two warm, one in use
        session.close()
    assert _ours(docker_client) - before == set()  # closing the pool removed the rest


def test_a_dead_pool_container_is_replaced_on_acquire(docker_client: docker.DockerClient) -> None:
    with SandboxPool(size=1, client=docker_client) as pool:
        assert pool.wait_ready(60)
        [kernel] = list(pool._ready)
        kernel.container.kill()
        with pool.session() as session:
            assert session.container_id != kernel.id
            assert session.run("'fresh'").result == "'fresh'"


def test_prune_removes_leftovers_of_dead_processes_only(
    docker_client: docker.DockerClient,
) -> None:
    config = container_config(image_tag(), SandboxLimits())
    config["labels"] = {LABEL: "1", LABEL_OWNER: f"{owner_id().split(':')[0]}:999999999:1"}
    orphan = docker_client.containers.create(**config)
    orphan.start()  # running, so only the dead owner makes it a leftover
    with SandboxPool(size=1, client=docker_client) as pool:
        assert pool.wait_ready(60)
        live = {k.id for k in pool._ready}
        removed = prune(docker_client)
        assert orphan.id in removed
        assert not live & set(removed)  # a live process's containers stay
        assert all(docker_client.containers.get(cid) for cid in live)


KILLED_OWNER = """
import subprocess
import sys
import time
from agentlab.sandbox import Session
session = Session.start()
print(session.container_id, flush=True)
time.sleep(120)
"""


def test_containers_of_a_killed_process_go_away_by_themselves(
    docker_client: docker.DockerClient,
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", KILLED_OWNER], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        container_id = owner.stdout.readline().strip()
        assert docker_client.containers.get(container_id).status == "running"
    finally:
        owner.kill()  # SIGKILL: no atexit, no cleanup code runs
        owner.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            docker_client.containers.get(container_id)
        except docker.errors.NotFound:
            return  # the kernel saw its stdin close, exited, and the engine removed it
        time.sleep(0.2)
    pytest.fail("the container outlived its killed owner")
