"""`AgentConfig`: every switch an ablation study can flip, and the named variants."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


ReflectionPolicy = Literal["always", "on_failure", "never"]
ApprovalPolicy = Literal["ask", "allow", "deny"]


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

    reflection: ReflectionPolicy = "on_failure"
    """When the reflector (a model call) judges a plan's results: `on_failure` when a step
    failed, a reference did not resolve, or the answer template's results are not usable as
    an answer (a clean run answers from its template, one model call in all); `always`
    after every plan; `never` (failures go back to the planner as findings). `True` and
    `False` are read as `always` and `never`."""

    plans: int = Field(default=1, ge=1, le=8)
    """Candidate plans sampled per planning round; above 1, the valid ones all run and the
    answer most of them agree on wins (self-consistency), else the first valid plan's."""

    plan_rationale: bool | None = None
    """Ask for a `why` with each step. None: only for models that are not embedded
    (generated tokens are what a local model's time goes to)."""

    plan_approach: bool = True
    """Ask for the plan's approach, one sentence decoded before its steps (what the answer
    is computed from): a small model that writes the steps straight away often stops a
    step short of the question."""

    plan_control_flow: bool = False
    """Offer plans control flow: a step may fan out over a list (`for_each`) or run only
    when a condition over earlier results holds (`when`). On (variant `control-flow`),
    the plan schema and the system prompt describe them. Off by default until the
    control-flow ablation shows it pays on the shipped suites: the published figures were
    measured without it. Plans that use it still validate and run either way."""

    deliverable: Literal["auto", "code"] = "auto"
    """`code` when the answer must be a program (code suites, HumanEval): the plan names
    the code as its answer (`${s1.code}`), the task's own examples run in the sandbox
    before the run answers, and replies get `code_output_tokens`. `auto`: a plan whose
    answer template names a step's code is a code answer too."""

    approval: ApprovalPolicy = "ask"
    """What happens to a write action (a tool with side effects): `ask` a person before it
    runs (the run stops with `interrupt()` until answered), `allow` it (but ask all the same
    once the run has read text flagged as prompt injection), or `deny` it."""

    guardrails: bool = True
    """Screen tool output from outside for prompt injection and fence it as data in prompts,
    and mask secrets and personal data in the task (see `masking`). Off: the
    `no-guardrails` variant."""

    injection_model_check: bool | None = None
    """After the rules pass a tool's output from outside, ask the agent's model too (one short
    constrained call per result, `agentlab.guardrails.classifier`). None: only when the
    model is embedded (`local:`) and the agent has a write tool."""

    masking: bool | None = None
    """Mask API keys, e-mail addresses, phone and card numbers in the task before a model,
    trace or memory sees them (tools that need them get them back). None: on for models
    that are not on this machine (anything but `local:` and `replay:`)."""

    answer_format: str | None = None
    """A regular expression the whole final answer must match (output guardrail): a miss is
    `guardrail.output_invalid`, sent back to the reflector once, then `goal.no_answer`."""

    answer_schema: dict[str, Any] | None = None
    """A JSON Schema the final answer, read as JSON, must satisfy (same guardrail); the
    parsed answer is `RunResult.structured`."""

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
    """Seconds one model request may take."""

    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    """How structured replies are asked for: `auto` negotiates with an OpenAI-compatible
    server (json_schema, then json_object, then the schema in the prompt) and uses the
    embedded model's grammar or a provider's own support; any other value forces that mode
    (a model spec's `?structured=` takes precedence)."""

    max_output_tokens: int = Field(default=512, ge=16)
    """Tokens one structured reply may take (plans, reflections). Sent to OpenAI-compatible
    servers (in every structured mode) and the local model. A reply cut off
    there is `model.output_truncated` and is asked again with twice the room, up to
    `output_tokens_cap`."""

    code_output_tokens: int = Field(default=2048, ge=16)
    """`max_output_tokens` when the deliverable is code: a function can need 1-2k tokens."""

    output_tokens_cap: int = Field(default=4096, ge=16)
    """The most room a truncated reply is given when it is asked again."""

    search_backend: Literal["auto", "web", "local"] | None = None
    """Where the `search` tool looks: the web (ddgs), the local document index, or `auto`
    (the web when it can be reached, else local). None: `local` when a corpus is named
    (`search_corpus` or `AGENTLAB_CORPUS`), else `auto`."""

    search_corpus: tuple[Path, ...] = ()
    """The folders of documents the local `search` backend reads (one path is read as a
    one-folder tuple). Empty: `AGENTLAB_CORPUS`, else the handbook shipped with agentlab.
    Relative paths are relative to the working directory."""

    @field_validator("search_corpus", mode="before")
    @classmethod
    def _one_folder(cls, value: Any) -> Any:
        # A single folder is the common case; a str must not be read as a tuple of characters.
        return (value,) if isinstance(value, str | PurePath) else value

    @field_validator("answer_format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"answer_format is not a regular expression: {exc}") from None
        return value

    @field_validator("answer_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"answer_schema is not a JSON Schema: {exc.message}") from None
        return value

    @field_validator("reflection", mode="before")
    @classmethod
    def _reflection_switch(cls, value: Any) -> Any:
        # The switch was a bool before it was a policy; keep accepting it.
        if isinstance(value, bool):
            return "always" if value else "never"
        return value

    def output_tokens(self) -> int:
        """The room one structured reply gets, by deliverable."""
        return self.code_output_tokens if self.deliverable == "code" else self.max_output_tokens

    @model_validator(mode="before")
    @classmethod
    def _baseline_variant(cls, data: Any) -> Any:
        # A baseline built without a variant name must not be reported as "full".
        if isinstance(data, dict) and data.get("architecture") not in (None, "agentlab"):
            return {"variant": data["architecture"], **data}
        return data

    def with_variant(self, variant: str | Variant) -> AgentConfig:
        """This config with a variant's switch flipped, labelled with the variant's name.

        Raises `ConfigError` for an unknown name, or for `no-TOOL` when this config's
        inventory is given and has no TOOL.
        """
        parsed = parse_variant(variant) if isinstance(variant, str) else variant
        return self.model_copy(update={**parsed.overrides(self), "variant": parsed.name})

    def with_variants(self, variants: Iterable[str | Variant]) -> AgentConfig:
        """This config with several variants applied in order, labelled with their names joined
        by `+` after this config's own label (unless that is `full`): `no-validator+no-memory`."""
        config = self
        labels = [] if self.variant == "full" else [self.variant]
        for variant in variants:
            parsed = parse_variant(variant) if isinstance(variant, str) else variant
            config = config.with_variant(parsed)
            if parsed.name not in labels and parsed.name != "full":
                labels.append(parsed.name)
        return config.model_copy(update={"variant": "+".join(labels) or "full"})


VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "no-validator": {"validator": False},
    "no-reflection": {"reflection": "never"},
    "reflection-always": {"reflection": "always"},
    "reflection-never": {"reflection": "never"},
    "plans-3": {"plans": 3},
    "plans-5": {"plans": 5},
    "no-approach": {"plan_approach": False},
    "control-flow": {"plan_control_flow": True},
    "critique": {"llm_critique": True},
    "no-memory": {"memory": False},
    "no-guardrails": {"guardrails": False},
    "approve-all": {"approval": "allow"},
    "react": {"architecture": "react"},
    "direct": {"architecture": "direct"},
}
"""Named variants; `no-TOOL` (e.g. `no-calculator`) removes one tool. `react` and
`direct` swap agentlab's graph for a baseline with the same model, tools and budgets."""


@dataclass(frozen=True, slots=True)
class Switch:
    """A named variant of `VARIANTS`: the fields it sets."""

    name: str

    def overrides(self, base: AgentConfig) -> dict[str, Any]:
        """The fields this variant changes relative to `base`."""
        return dict(VARIANTS[self.name])


@dataclass(frozen=True, slots=True)
class WithoutTool:
    """`no-TOOL`: the inventory without one tool."""

    tool: str

    @property
    def name(self) -> str:
        return f"no-{self.tool}"

    def overrides(self, base: AgentConfig) -> dict[str, Any]:
        """`base`'s removed tools plus this one; refused when `base` names an inventory
        without it."""
        if base.tools is not None and self.tool not in base.tools:
            raise ConfigError(
                f"variant {self.name!r} removes tool {self.tool!r}, which is not in the "
                f"inventory {list(base.tools)}"
            )
        return {"without_tools": (*base.without_tools, self.tool)}


Variant: TypeAlias = Switch | WithoutTool
"""An ablation variant, parsed from its name by `parse_variant`."""

UNKNOWN_VARIANT = "unknown variant {name!r}; known: {known}, or no-TOOL to remove a tool"


def parse_variant(name: str) -> Variant:
    """The variant a name stands for: an entry of `VARIANTS`, else `no-TOOL`.

    The one place variant names are read (CLI flags, `agentlab eval -v`,
    `AgentConfig.with_variant`, the report); raises `ConfigError` for anything else.
    """
    if name in VARIANTS:
        return Switch(name)
    tool = name.removeprefix("no-")
    if name.startswith("no-") and tool and tool == tool.strip() and "+" not in tool:
        return WithoutTool(tool)
    raise ConfigError(UNKNOWN_VARIANT.format(name=name, known=", ".join(VARIANTS)))


def resolve_inventory(config: AgentConfig, available: list[str]) -> list[str]:
    """The tool names a config selects from those available, in the available order."""
    chosen = list(available) if config.tools is None else list(config.tools)
    unknown = [t for t in [*chosen, *config.without_tools] if t not in available]
    if unknown:
        raise ConfigError(
            f"unknown tool(s) {', '.join(unknown)}; available: {', '.join(available) or 'none'}"
        )
    return [t for t in chosen if t not in config.without_tools]
