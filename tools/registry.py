"""The tool registry: names to tools, and the inventories agents draw from it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from langchain_core.tools import BaseTool

from agentlab.errors import ConfigError

if TYPE_CHECKING:
    from agentlab.config import AgentConfig

# Built-in tools are created on first use, so importing agentlab never imports
# the docker SDK or a search backend that a run does not need.
BUILTIN_TOOLS: dict[str, str] = {
    "calculator": "agentlab.tools.calculator:Calculator",
    "python": "agentlab.tools.python:PythonTool",
    "search": "agentlab.tools.search:SearchTool",
    "files": "agentlab.tools.files:FilesTool",
    "outbox": "agentlab.tools.outbox:OutboxTool",
}
WRITE_TOOLS = ("files", "outbox")
"""Built-in write actions: an agent has them only when it names them (`--tools`, agent.yaml),
never by default, so no agent gains side effects it did not ask for."""


def _load_factory(path: str) -> Callable[[], BaseTool]:
    module_name, _, attr = path.partition(":")
    factory: Callable[[], BaseTool] = getattr(importlib.import_module(module_name), attr)
    return factory


class ToolRegistry:
    """An ordered, name-keyed set of tools."""

    def __init__(self, tools: Iterable[BaseTool] = ()) -> None:
        self._tools: dict[str, BaseTool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: BaseTool) -> None:
        """Add a tool; a second tool with the same name is a mistake, not an override."""
        if not isinstance(tool, BaseTool):
            raise ConfigError(
                f"{tool!r} is not a tool: decorate the function with langchain_core.tools.tool "
                "or subclass BaseTool"
            )
        if tool.name in self._tools:
            raise ConfigError(f"two tools are named {tool.name!r}; tool names must be unique")
        self._tools[tool.name] = tool

    def get(self, name: str) -> BaseTool:
        try:
            return self._tools[name]
        except KeyError:
            raise ConfigError(
                f"unknown tool {name!r}; available: {', '.join(self.names()) or 'none'}"
            ) from None

    def names(self) -> list[str]:
        return list(self._tools)

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """The registry restricted to `names` (each must exist)."""
        return ToolRegistry(self.get(name) for name in names)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[BaseTool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


def builtin_tool_names() -> list[str]:
    """Names of the tools agentlab ships."""
    return list(BUILTIN_TOOLS)


def default_tool_names() -> list[str]:
    """The built-in tools an agent gets when it names none: all but the write actions."""
    return [name for name in BUILTIN_TOOLS if name not in WRITE_TOOLS]


def builtin_names_for(selected: Iterable[str] | None) -> list[str]:
    """The built-in tools to make for an inventory that selects `selected` (None: the
    defaults): the defaults, plus each write action it names."""
    chosen = set(selected or ())
    return [*default_tool_names(), *(name for name in WRITE_TOOLS if name in chosen)]


def builtin_tool(name: str, config: AgentConfig | None = None) -> BaseTool:
    """A new instance of a built-in tool; a factory with `from_config` is given the agent's config."""
    try:
        path = BUILTIN_TOOLS[name]
    except KeyError:
        raise ConfigError(
            f"unknown tool {name!r}; built-in tools: {', '.join(BUILTIN_TOOLS)}"
        ) from None
    factory = _load_factory(path)
    from_config: Callable[[AgentConfig], BaseTool] | None = getattr(factory, "from_config", None)
    if config is not None and from_config is not None:
        return from_config(config)
    return factory()


def default_registry(
    names: Iterable[str] | None = None, config: AgentConfig | None = None
) -> ToolRegistry:
    """A registry of built-in tools: those named, else the defaults (`default_tool_names`)."""
    chosen = names or builtin_names_for(config.tools if config is not None else None)
    return ToolRegistry(builtin_tool(name, config) for name in chosen)
