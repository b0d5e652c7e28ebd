"""Isolation, asserted from inside the container and from the engine (Must show 4).

No packet is sent anywhere: the network checks read the namespace's interface and
route tables.
"""

from __future__ import annotations

import ast
from typing import Any

import docker
import pytest

from agentlab.sandbox import Session
from agentlab.sandbox.limits import MIB, SANDBOX_UID

pytestmark = pytest.mark.docker

PROBE = r"""
import os
probe = {}
probe["interfaces"] = sorted(os.listdir("/sys/class/net"))
probe["net_dev"] = sorted(
    line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]
)
probe["ipv4_routes"] = open("/proc/net/route").read().splitlines()[1:]
ipv6 = "/proc/net/ipv6_route"
probe["ipv6_routes"] = (
    [line.split()[-1] for line in open(ipv6).read().splitlines()] if os.path.exists(ipv6) else []
)
probe["ids"] = (os.getuid(), os.geteuid(), os.getgid())
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
probe["caps"] = {k: v.strip() for k, v in status.items() if k.startswith("Cap")}
probe["no_new_privs"] = status["NoNewPrivs"].strip()
writes = {}
for path in ("/usr/evil", "/etc/evil", "/opt/agentlab/evil", "/evil"):
    try:
        open(path, "w").close()
        writes[path] = "written"
    except OSError as exc:
        writes[path] = exc.errno
probe["writes"] = writes
probe["sockets"] = [
    p for p in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock")
    if os.path.exists(p)
]
probe["env"] = dict(os.environ)
probe["mounts"] = [line.split()[1] for line in open("/proc/self/mounts")]
probe
"""


@pytest.fixture
def probe(session: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # Secrets in the host's environment must not reach the sandbox.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    monkeypatch.setenv("AGENTLAB_SECRET_PROBE", "host-only")
    result = session.run(PROBE)
    assert result.ok, result.error
    assert result.result is not None
    found: dict[str, Any] = ast.literal_eval(result.result)
    return found


def test_network_namespace_has_only_loopback(probe: dict[str, Any]) -> None:
    assert probe["interfaces"] == ["lo"]
    assert probe["net_dev"] == ["lo"]
    assert probe["ipv4_routes"] == []  # no default route, no route at all
    assert set(probe["ipv6_routes"]) <= {"lo"}


def test_root_filesystem_is_read_only(probe: dict[str, Any]) -> None:
    for path, outcome in probe["writes"].items():
        assert outcome != "written", f"{path} was writable"
    assert probe["writes"]["/usr/evil"] == 30  # EROFS


def test_runs_as_non_root_without_capabilities(probe: dict[str, Any]) -> None:
    assert probe["ids"] == (SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    assert probe["caps"]["CapEff"] == "0000000000000000"
    assert probe["caps"]["CapPrm"] == "0000000000000000"
    assert probe["caps"]["CapBnd"] == "0000000000000000"
    assert probe["no_new_privs"] == "1"


def test_no_docker_socket_and_clean_environment(probe: dict[str, Any]) -> None:
    assert probe["sockets"] == []
    env = probe["env"]
    assert "OPENAI_API_KEY" not in env
    assert "AGENTLAB_SECRET_PROBE" not in env
    assert not any("KEY" in name or "TOKEN" in name or "SECRET" in name for name in env)


def test_engine_side_configuration(session: Session, docker_client: docker.DockerClient) -> None:
    attrs = docker_client.api.inspect_container(session.container_id)
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["Memory"] == 512 * MIB
    assert host["MemorySwap"] == 512 * MIB  # equal: no swap on top
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 128
    assert not host["Binds"]
    assert attrs["Mounts"] == []  # no volumes, no host paths, no socket
    assert set(host["Tmpfs"]) == {"/work", "/tmp"}
    assert all("size=" in opts and "noexec" in opts for opts in host["Tmpfs"].values())
    assert attrs["Config"]["User"] == f"{SANDBOX_UID}:{SANDBOX_UID}"
    assert host["LogConfig"]["Type"] == "none"
