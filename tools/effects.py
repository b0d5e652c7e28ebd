"""The typed result of a write action (`agentlab.effects.Effect` said as text)."""

from __future__ import annotations

from pydantic import Field

from agentlab.effects import Effect
from agentlab.tools.base import ToolOutput


class EffectOutput(ToolOutput):
    """The result of a write action: the effect, said as text for the model."""

    effect: Effect
    summary: str = Field(description="What was done, for the model")

    def as_text(self) -> str:
        return self.summary
