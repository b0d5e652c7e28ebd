"""What a write action changed outside the run: one `Effect` per successful call.

A tool with side effects (`AgentTool.side_effects`) returns an `agentlab.tools.effects.EffectOutput`;
the step engine records its effect in the state, the trace (an `effect` event)
and the run's footer, so a reader sees every file written and message queued.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Effect(BaseModel):
    """One change a write action made."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    tool: str
    """The tool that made it (`files`, `outbox`)."""
    action: str
    """What it did: `create`, `append`, `delete`, `queue`."""
    target: str
    """What it changed: a path inside the run's workspace, a message file in the outbox."""
    detail: str = ""
    """A short account (bytes written, the recipient)."""
    step_id: str | None = None
    """The step that made it (filled in by the step engine)."""
