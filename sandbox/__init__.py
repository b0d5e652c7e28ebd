"""The Docker code interpreter (installed as `agentlab.sandbox`).

Public: `Session` (one container, one persistent namespace), `SandboxPool`
(pre-started containers), `SandboxLimits`, the run result types, `connect` and
`build_image`. Underneath: `kernel.py` runs inside the container, `channel`
speaks its protocol, `container` holds the isolation policy, `image` builds.
"""

from agentlab.sandbox.client import connect, docker_host
from agentlab.sandbox.container import SandboxError
from agentlab.sandbox.image import SandboxBuildError, build_image, image_tag
from agentlab.sandbox.limits import SandboxLimits
from agentlab.sandbox.pool import SandboxPool, prune, shared_pool
from agentlab.sandbox.results import CodeError, RunResult, RunStatus, SandboxFile
from agentlab.sandbox.session import Session

__all__ = [
    "CodeError",
    "RunResult",
    "RunStatus",
    "SandboxBuildError",
    "SandboxError",
    "SandboxFile",
    "SandboxLimits",
    "SandboxPool",
    "Session",
    "build_image",
    "connect",
    "docker_host",
    "image_tag",
    "prune",
    "shared_pool",
]
