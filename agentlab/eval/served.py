"""The MCP servers of an evaluation (`agentlab eval --mcp FILE`), started once per process
that runs pairs: the evaluator's own for `-j 1`, each worker process's, each Ray worker's.

A worker's servers end with it: a stdio server reads end-of-file when the worker exits.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from langchain_core.tools import BaseTool

from agentlab.mcp_servers import McpServers

_started: dict[Path, McpServers] = {}
_lock = threading.Lock()


def served_tools(path: Path) -> list[BaseTool]:
    """The tools of the servers `path` names, started on first use in this process
    (`ConfigError` when one cannot start)."""
    key = path.resolve()
    with _lock:
        servers = _started.get(key)
        if servers is None:
            servers = McpServers.from_file(key)
            servers.start()
            if not _started:
                atexit.register(stop_served)
            _started[key] = servers
        return servers.tools


def stop_served() -> None:
    """Stop every server this process started for an evaluation."""
    with _lock:
        for servers in _started.values():
            servers.close()
        _started.clear()
