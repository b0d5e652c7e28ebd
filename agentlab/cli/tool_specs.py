"""Custom tools from the command line: `--tool module:attr` or `AGENTLAB_TOOLS=module:attr,...`.

`attr` is a tool (an `@tool` function or a `BaseTool` instance) or a list of tools;
anything else is refused, never called. `module` must be importable (installed, or on
PYTHONPATH).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from langchain_core.tools import BaseTool

from agentlab import settings
from agentlab.errors import ConfigError


def _as_tools(spec: str, value: object) -> list[BaseTool]:
    # Never called: naming a function that is not a tool must not run it.
    if isinstance(value, BaseTool):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, BaseTool) for v in value):
        return list(value)
    what = type(value).__name__
    hint = " (decorate it with @tool from langchain_core.tools)" if callable(value) else ""
    raise ConfigError(
        f"custom tool {spec!r} is a {what}, not a tool{hint}: point it at an @tool function, "
        "a BaseTool instance, or a list of them"
    )


def load_tool(spec: str) -> list[BaseTool]:
    """The tools `module:attr` names."""
    module_name, sep, attr = spec.strip().partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"custom tool {spec!r}: write it as module:attribute, e.g. mytools:lookup"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"custom tool {spec!r}: cannot import {module_name!r} ({exc}); install it or add its "
            "folder to PYTHONPATH"
        ) from None
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"custom tool {spec!r}: {module_name} has no {attr!r}") from None
    return _as_tools(spec, value)


def custom_tools(specs: Iterable[str] = ()) -> list[BaseTool]:
    """Tools named by `specs` and by `AGENTLAB_TOOLS` (comma-separated), in that order."""
    return [tool for spec in [*specs, *settings.current().tools] for tool in load_tool(spec)]
