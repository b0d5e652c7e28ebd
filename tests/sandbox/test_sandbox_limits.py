"""Resource bombs come back as the right outcome and category, and harm nothing (Must show 3)."""

from __future__ import annotations

import subprocess
import time

import docker
import pytest

from agentlab.failures import FailureCategory
from agentlab.sandbox import ExecStatus, SandboxLimits, SandboxPool, Session
from agentlab.sandbox.limits import MIB
from agentlab.tools.python import describe_failure

pytestmark = pytest.mark.docker

MEMORY_BOMB = """
chunks = []
while True:
    chunks.append(bytearray(16 * 2**20))  # 16 MiB, touched: really resident
    print(len(chunks), flush=True)
"""
FORK_BOMB = """
import os
while True:
    os.fork()
"""
STUBBORN_FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""
DISK_FILL = """
written = 0
with open('fill.bin', 'wb') as f:
    while True:
        f.write(b'x' * 2**20)
        f.flush()
        written += 1
"""
HUGE_PRINT = "print('x' * 100_000_000)"

# name -> (code, timeout, expected outcome). The stubborn fork bomb never ends by
# itself: it is stopped at its timeout, and reported as the pids limit it hit.
CASES = {
    "memory bomb": (MEMORY_BOMB, 10, ExecStatus.MEMORY_LIMIT),
    "fork bomb": (FORK_BOMB, 10, ExecStatus.PIDS_LIMIT),
    "fork bomb that ignores errors": (STUBBORN_FORK_BOMB, 3, ExecStatus.PIDS_LIMIT),
    "disk fill": (DISK_FILL, 10, ExecStatus.DISK_LIMIT),
    "100 MB print": (HUGE_PRINT, 10, ExecStatus.OUTPUT_LIMIT),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bomb_is_contained(
    name: str, session: Session, pool: SandboxPool, docker_client: docker.DockerClient
) -> None:
    code, timeout, expected = CASES[name]
    session.run("survivor = 'still here'")
    started = time.monotonic()
    result = session.run(code, timeout=timeout)
    assert time.monotonic() - started < 30, f"{name} was not stopped"
    assert result.status is expected, (result.status, result.error)
    category, message = describe_failure(result, session.limits)
    assert category is FailureCategory.EXECUTION_RESOURCE_LIMIT
    assert message

    # The same session goes on: the namespace survives unless the worker had to die.
    after = session.run("print('alive')")
    assert after.ok and after.stdout == "alive\n", after
    if not result.state_lost:
        assert session.run("survivor").result == "'still here'"

    # The host and the next session are unharmed.
    assert docker_client.ping()
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork
    with pool.session() as fresh:
        check = fresh.run("import numpy as np\nint(np.arange(10).sum())")
        assert check.ok and check.result == "45"


def test_memory_bomb_stays_under_the_limit(session: Session) -> None:
    result = session.run(MEMORY_BOMB, timeout=20)
    assert result.status is ExecStatus.MEMORY_LIMIT
    assert result.state_lost  # the worker was OOM-killed; the kernel restarted it
    counts = [int(line) for line in result.stdout.split()]
    assert counts, "the bomb printed its progress"
    allocated = counts[-1] * 16 * MIB
    assert allocated <= session.limits.memory_bytes  # killed at the cgroup limit


def test_disk_fill_stops_at_the_work_dir_cap(session: Session) -> None:
    result = session.run(DISK_FILL, timeout=20)
    assert result.status is ExecStatus.DISK_LIMIT and not result.state_lost
    size = session.run("import os\nos.path.getsize('fill.bin')")
    assert int(size.result or 0) <= session.limits.work_dir_bytes
    assert session.run("import os\nos.remove('fill.bin')\nopen('ok.txt', 'w').write('fine')").ok


def test_output_is_capped_with_a_marker(session: Session) -> None:
    limits = session.limits
    result = session.run(HUGE_PRINT)
    assert result.status is ExecStatus.OUTPUT_LIMIT
    assert len(result.stdout.encode()) < limits.output_bytes + 500
    assert "stopped at the limit" in result.stdout
    flood = session.run("import subprocess\nsubprocess.run(['sh', '-c', 'yes | head -c 3000000'])")
    assert flood.status is ExecStatus.OUTPUT_LIMIT
    assert flood.stdout_dropped == 3_000_000 - limits.output_bytes
    assert "more bytes of stdout dropped" in flood.stdout


def test_limits_are_configurable(pool: SandboxPool, docker_client: docker.DockerClient) -> None:
    small = SandboxLimits(memory_bytes=128 * MIB, pids=32, output_bytes=1000)
    with SandboxPool(size=0, client=docker_client, limits=small) as tight, tight.session() as s:
        host_config = docker_client.api.inspect_container(s.container_id)["HostConfig"]
        assert host_config["Memory"] == 128 * MIB
        assert host_config["PidsLimit"] == 32
        assert s.run("print('y' * 2000)").status is ExecStatus.OUTPUT_LIMIT
