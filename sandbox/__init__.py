"""The Docker code interpreter (installed as `agentlab.sandbox`).

Public: `Session` (one container, one persistent namespace; `grade` runs code
against tests with the kernel's judge), `SandboxPool`
(pre-started containers), `SandboxLimits`, the run result types, `connect` and
`build_image`. Underneath: `kernel.py` (and `judge.py`) run inside the container,
`channel` speaks its protocol and `protocol` holds the schemas every reply must
match, `container` holds the isolation policy, `image` builds.
"""

from agentlab.sandbox.client import connect, docker_host
from agentlab.sandbox.container import SandboxError
from agentlab.sandbox.image import SandboxBuildError, build_image, image_tag
from agentlab.sandbox.limits import SandboxLimits
from agentlab.sandbox.pool import SandboxPool, prune, shared_pool
from agentlab.sandbox.results import (
    CodeError,
    ExecResult,
    ExecStatus,
    GradeOutcome,
    GradeResult,
    SandboxFile,
)
from agentlab.sandbox.session import Session

__all__ = [
    "CodeError",
    "ExecResult",
    "ExecStatus",
    "GradeOutcome",
    "GradeResult",
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
