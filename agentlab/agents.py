"""Example agents: a folder under `examples/` with an `agent.yaml` and its tasks; and the
baselines (`react`, `direct`) by name, so `agentlab run --agent react` runs one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from agentlab.config import AgentConfig
from agentlab.errors import ConfigError


@dataclass(frozen=True)
class AgentSpec:
    """An example agent: what it is for, its tools, its config, its example tasks."""

    name: str
    description: str
    tools: tuple[str, ...] | None
    """The agent's inventory; None keeps every tool."""
    config: dict[str, Any] = field(default_factory=dict)
    tasks_file: str | None = None
    folder: Traversable | None = None

    def agent_config(self, base: AgentConfig | None = None) -> AgentConfig:
        """`base` (or the default config) with this agent's tools and overrides."""
        updates = dict(self.config)
        if self.tools is not None:
            updates["tools"] = self.tools
        return (base or AgentConfig()).model_copy(update=updates)

    def tasks(self) -> list[dict[str, Any]]:
        if self.folder is None or self.tasks_file is None:
            return []
        text = self.folder.joinpath(self.tasks_file).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _examples() -> Traversable:
    return resources.files("agentlab.examples")


BASELINE_AGENTS: dict[str, str] = {
    "react": "Baseline: the standard tool loop, one model call per tool call, every built-in tool.",
    "direct": "Baseline: the bare model reasons step by step and answers, without tools.",
}
"""Agents that are a baseline architecture (`agentlab.baselines`) rather than an example."""


def agent_names() -> list[str]:
    examples = sorted(
        entry.name
        for entry in _examples().iterdir()
        if entry.is_dir() and entry.joinpath("agent.yaml").is_file()
    )
    return [*examples, *BASELINE_AGENTS]


def load_agent(name: str) -> AgentSpec:
    """The example agent or baseline `name`; raises `ConfigError` naming the known ones."""
    if name in BASELINE_AGENTS:
        config = {"architecture": name, "variant": name}
        tools = () if name == "direct" else None
        return AgentSpec(name=name, description=BASELINE_AGENTS[name], tools=tools, config=config)
    folder = _examples().joinpath(name)
    definition = folder.joinpath("agent.yaml")
    if not definition.is_file():
        raise ConfigError(f"unknown agent {name!r}; known: {', '.join(agent_names())}")
    data = yaml.safe_load(definition.read_text(encoding="utf-8")) or {}
    try:
        AgentConfig.model_validate(data.get("config") or {})
    except ValueError as exc:
        raise ConfigError(f"{name}/agent.yaml: bad config: {exc}") from None
    return AgentSpec(
        name=name,
        description=str(data.get("description", "")),
        tools=tuple(data.get("tools") or ()),
        config=dict(data.get("config") or {}),
        tasks_file=data.get("tasks"),
        folder=folder,
    )
