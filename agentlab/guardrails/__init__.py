"""Guardrails on what goes into a run and what comes back from its tools.

* `masking`: secrets and personal data in the task replaced by placeholders
  before anything (model, trace, memory) sees them; tools that need a value
  get it back at the call.
* `injection`: tool output from outside screened for instructions aimed at
  the agent, and fenced as untrusted data in prompts (spotlighting).
"""

from agentlab.guardrails.injection import InjectionHit, screen, spotlight
from agentlab.guardrails.masking import Masked, mask_text, remask, unmask

__all__ = ["InjectionHit", "Masked", "mask_text", "remask", "screen", "spotlight", "unmask"]
