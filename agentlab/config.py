"""`AgentConfig`: every switch an ablation study can flip, and the named variants."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentlab.errors import ConfigError


class Budgets(BaseModel):
    """Limits that stop every loop; hitting one ends the run with `efficiency.budget_exhausted`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_plan_steps: int = Field(default=8, ge=1)
    """Steps one plan may hold; a longer plan is `planning.over_budget`."""

    max_steps: int = Field(default=24, ge=1)
    """Tool calls one run may make, over all its plans."""

    max_replans: int = Field(default=3, ge=0)
    """Plans after the first (a rejected plan counts)."""

    max_llm_calls: int = Field(default=12, ge=1)
    """Model calls one run may make, retries of malformed replies included."""

    max_tokens: int = Field(default=60_000, ge=1)
    """Prompt plus completion tokens one run may use."""

    max_seconds: float = Field(default=900.0, gt=0)
    """Wall-clock seconds one run may take."""

    max_output_retries: int = Field(default=2, ge=0)
    """Extra attempts a node makes when the model's reply does not parse."""


class AgentConfig(BaseModel):
    """The switches of one agent variant. Frozen: derive variants with `with_variant`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str = "full"
    """Name written into every trace, so runs of different variants can be compared;
    defaults to the architecture's name when that is a baseline."""

    architecture: Literal["agentlab", "react", "direct"] = "agentlab"
    """Which agent runs: agentlab's plan-validate-execute-reflect graph, or a baseline
    (`agentlab.baselines`): `react`, a tool loop of one model call per tool call, or
    `direct`, the bare model without tools. The baselines have no validator, reflector,
    critique or long-term memory, so those switches do not apply to them."""

    tools: tuple[str, ...] | None = None
    """Names of the tools the agent may use; None means every tool given to `build_agent`."""

    without_tools: tuple[str, ...] = ()
    """Tools removed from the inventory (the `no-TOOL` variants)."""

    validator: bool = True
    """Check plans before they run; off, bad plans reach the executor."""

    reflection: bool = True
    """Ask the model to judge results; off, the executor's last result is the answer."""

    llm_critique: bool = False
    """Let the validator also ask the model to review a plan that passed the checks."""

    memory: bool = True
    """Recall long-term memories before planning and store lessons after the run."""

    budgets: Budgets = Field(default_factory=Budgets)

    model: str | None = None
    """Model spec (`openai:MODEL`, `local:NAME`, `replay:PATH`); None picks the default."""

    model_max_retries: int = Field(default=3, ge=0)
    """Retries with backoff on rate limits, timeouts and 5xx before `model.api_error`."""

    model_timeout_s: float = Field(default=120.0, gt=0)

    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    """How structured replies are asked for: `auto` negotiates with an OpenAI-compatible
    server (json_schema, then json_object, then the schema in the prompt) and uses the
    embedded model's grammar or a provider's own support; any other value forces that mode
    (a model spec's `?structured=` takes precedence)."""

    max_output_tokens: int = Field(default=512, ge=16)
    """Tokens one structured reply may take (plans, reflections); a reply cut off there does
    not parse and is retried like any malformed reply. Sent to OpenAI-compatible servers
    (in every structured mode) and the local model."""
    """Seconds one model request may take."""

    search_backend: Literal["auto", "web", "local"] = "auto"
    """Where the `search` tool looks: the web (ddgs), the local document index, or `auto`
    (the web when it can be reached, else local)."""

    @model_validator(mode="before")
    @classmethod
    def _baseline_variant(cls, data: Any) -> Any:
        # A baseline built without a variant name must not be reported as "full".
        if isinstance(data, dict) and data.get("architecture") not in (None, "agentlab"):
            return {"variant": data["architecture"], **data}
        return data

    def with_variant(self, name: str) -> AgentConfig:
        """This config with a named variant's switch flipped (see `VARIANTS` and `no-TOOL`)."""
        return self.model_copy(update={**variant_overrides(name, self), "variant": name})


VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "no-validator": {"validator": False},
    "no-reflection": {"reflection": False},
    "critique": {"llm_critique": True},
    "no-memory": {"memory": False},
    "react": {"architecture": "react"},
    "direct": {"architecture": "direct"},
}
"""Named variants; `no-TOOL` (e.g. `no-calculator`) removes one tool. `react` and
`direct` swap agentlab's graph for a baseline with the same model, tools and budgets."""


def variant_overrides(name: str, base: AgentConfig) -> dict[str, Any]:
    """The fields a variant changes relative to `base`."""
    if name in VARIANTS:
        return dict(VARIANTS[name])
    if name.startswith("no-") and len(name) > 3:
        tool = name.removeprefix("no-")
        if base.tools is not None and tool not in base.tools:
            raise ConfigError(
                f"variant {name!r} removes tool {tool!r}, which is not in the inventory "
                f"{list(base.tools)}"
            )
        return {"without_tools": (*base.without_tools, tool)}
    raise ConfigError(
        f"unknown variant {name!r}; known: {', '.join(VARIANTS)}, or no-TOOL to remove a tool"
    )


def resolve_inventory(config: AgentConfig, available: list[str]) -> list[str]:
    """The tool names a config selects from those available, in the available order."""
    chosen = list(available) if config.tools is None else list(config.tools)
    unknown = [t for t in [*chosen, *config.without_tools] if t not in available]
    if unknown:
        raise ConfigError(
            f"unknown tool(s) {', '.join(unknown)}; available: {', '.join(available) or 'none'}"
        )
    return [t for t in chosen if t not in config.without_tools]
