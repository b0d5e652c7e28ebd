"""Example agents: a folder under `examples/` with an `agent.yaml` and its tasks; and the
baselines (`react`, `direct`) by name, so `agentlab run --agent react` runs one.

What `--agent` takes (`AGENT_RULE`): the name of a shipped agent or baseline, exactly
as `agentlab agents` lists it; or the path of an `agent.yaml` file of your own, written
as a path (it holds a `/`, or ends in `.yaml` / `.yml`). Anything else, `..` included,
is refused; a name is never joined to a folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from agentlab.config import AgentConfig
from agentlab.errors import ConfigError, UnsafePathError
from agentlab.jsonl import numbered_lines
from agentlab.paths import check_name

AGENT_RULE = (
    "an agent is a shipped one by name ({names}), or the path of your own agent.yaml "
    "file, written as a path (./my-agent/agent.yaml)"
)
YAML_SUFFIXES = (".yaml", ".yml")


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
    corpus: tuple[Path, ...] = ()
    """The folders its `search` reads (`corpus:` in agent.yaml, resolved against the file's
    folder); empty: `AGENTLAB_CORPUS`, else the shipped handbook."""
    mcp: str | None = None
    """An `mcpServers` JSON file beside agent.yaml whose servers' tools the agent gets."""

    def mcp_file(self) -> Path | None:
        """The agent's `mcpServers` file as a path, when it has one."""
        if self.folder is None or self.mcp is None:
            return None
        return Path(str(self.folder.joinpath(self.mcp)))

    def agent_config(self, base: AgentConfig | None = None) -> AgentConfig:
        """`base` (or the default config) with this agent's tools, corpus and overrides."""
        updates = dict(self.config)
        if self.tools is not None:
            updates["tools"] = self.tools
        if self.corpus:
            updates["search_corpus"] = self.corpus
        return (base or AgentConfig()).model_copy(update=updates)

    def tasks(self) -> list[dict[str, Any]]:
        if self.folder is None or self.tasks_file is None:
            return []
        text = self.folder.joinpath(self.tasks_file).read_text(encoding="utf-8")
        return [json.loads(line) for _, line in numbered_lines(text)]


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
    """The agent `name` names (`AGENT_RULE`): a shipped example or baseline by name, or an
    `agent.yaml` file by path; raises `ConfigError` saying which agents there are."""
    if name in BASELINE_AGENTS:
        config = {"architecture": name, "variant": name}
        tools = () if name == "direct" else None
        return AgentSpec(name=name, description=BASELINE_AGENTS[name], tools=tools, config=config)
    rule = AGENT_RULE.format(names=", ".join(agent_names()))
    if "/" in name or "\\" in name or name.endswith(YAML_SUFFIXES):
        path = Path(name)
        if not path.is_file() or path.suffix not in YAML_SUFFIXES:
            raise ConfigError(f"agent {name!r} is not an agent.yaml file; {rule}")
        return _read_agent(path.resolve().parent.name or "agent", path.resolve().parent, path)
    if name not in agent_names():
        raise ConfigError(f"unknown agent {name!r}; {rule}")
    folder = _examples().joinpath(name)
    return _read_agent(name, folder, folder.joinpath("agent.yaml"))


def _read_agent(name: str, folder: Traversable, definition: Traversable) -> AgentSpec:
    try:
        data = yaml.safe_load(definition.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{definition}: cannot read the agent ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{definition}: expected a mapping (description, tools, config, tasks)")
    try:
        AgentConfig.model_validate(data.get("config") or {})
    except ValueError as exc:
        raise ConfigError(f"{definition}: bad config: {exc}") from None
    if "search_corpus" in (data.get("config") or {}):
        raise ConfigError(
            f"{definition}: name the documents with `corpus:` at the top of the file "
            "(a folder, or a list of folders, relative to the file's folder), not in config"
        )
    tasks_file = data.get("tasks")
    mcp_file = data.get("mcp")
    for key, value in (("tasks", tasks_file), ("mcp", mcp_file)):
        if value is None:
            continue
        try:
            check_name(str(value))
        except UnsafePathError as exc:
            raise ConfigError(
                f"{definition}: {key}: {exc.message}; name a file beside agent.yaml"
            ) from None
    return AgentSpec(
        name=name,
        description=str(data.get("description", "")),
        tools=tuple(data.get("tools") or ()),
        config=dict(data.get("config") or {}),
        tasks_file=None if tasks_file is None else str(tasks_file),
        folder=folder,
        corpus=_corpus(definition, folder, data.get("corpus")),
        mcp=None if mcp_file is None else str(mcp_file),
    )


def _corpus(definition: Traversable, folder: Traversable, value: Any) -> tuple[Path, ...]:
    """The folders of an agent.yaml's `corpus:` (one or a list), relative to its folder."""
    if value is None:
        return ()
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        raise ConfigError(f"{definition}: corpus: expected a folder or a list of folders")
    base = Path(str(folder))
    return tuple((base / Path(entry).expanduser()).resolve() for entry in entries)
