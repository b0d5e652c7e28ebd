"""MCP servers as tools: read a `mcpServers` file, start the servers once, stop them at the end.

The file has the shape other MCP clients read:

    {"mcpServers": {
      "units": {"command": "python", "args": ["server.py"], "env": {...}, "cwd": "..."},
      "notes": {"url": "http://127.0.0.1:8000/mcp", "headers": {...}}
    }}

A server with a `command` is started over stdio (`python` means the interpreter
agentlab runs under, so a server written with the `mcp` package finds it); one
with a `url` is reached over streamable HTTP (`"type": "sse"` for the older SSE
transport). `timeout` (seconds, agentlab's own key) is each of its tool calls'
deadline. `McpServers` opens one session per server through langchain-mcp-adapters
and keeps it open until `close()`: a run (or an evaluation process) starts each
server once. The sessions live on agentlab's background loop
(`agentlab.background_loop`), where the step engine runs their coroutine-only
tools. An error a tool reports is `execution.tool_error` with the server's message;
a server that dies or hangs is an error or a timeout of the call, never a crash.

Needs the `[mcp]` extra (langchain-mcp-adapters and mcp).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentlab import background_loop
from agentlab.errors import ConfigError, ToolError

INSTALL_HINT = "MCP servers need the [mcp] extra: pip install 'agentlab[mcp]'"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
MAX_CONFIG_BYTES = 1_000_000
PYTHON_COMMANDS = ("python", "python3")


class McpServerConfig(BaseModel):
    """One entry of `mcpServers`. Keys other clients add (`disabled`, `autoApprove`...) are
    ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    command: str | None = None
    """The program that runs a stdio server."""
    args: list[str] = Field(default_factory=list)
    """Its arguments."""
    env: dict[str, str] | None = None
    """Its environment (the MCP SDK's default, a few safe variables, when absent)."""
    cwd: str | None = None
    """Its working directory."""
    url: str | None = None
    """The endpoint of an HTTP server."""
    headers: dict[str, str] | None = None
    """Headers sent to an HTTP server (an API key)."""
    type: Literal["stdio", "http", "streamable-http", "streamable_http", "sse"] | None = Field(
        default=None, validation_alias=AliasChoices("type", "transport")
    )
    """The transport (`type`, or `transport` as some clients write it), when the `command` /
    `url` rule is not enough (`sse`)."""
    timeout: float | None = Field(default=None, gt=0)
    """Seconds each tool call of this server may take (agentlab's key; default 30)."""

    @model_validator(mode="after")
    def _one_way_in(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either a command (stdio) or a url (streamable HTTP)")
        return self

    def connection(self) -> dict[str, Any]:
        """The connection as langchain-mcp-adapters takes it."""
        if self.command is not None:
            command = sys.executable if self.command in PYTHON_COMMANDS else self.command
            stdio: dict[str, Any] = {"transport": "stdio", "command": command, "args": self.args}
            if self.env is not None:
                stdio["env"] = self.env
            if self.cwd is not None:
                stdio["cwd"] = self.cwd
            return stdio
        transport = "sse" if self.type == "sse" else "streamable_http"
        http: dict[str, Any] = {"transport": transport, "url": self.url}
        if self.headers:
            http["headers"] = self.headers
        return http


def parse_servers(data: Any, source: str = "mcp config") -> dict[str, McpServerConfig]:
    """The servers of a `{"mcpServers": {...}}` mapping; `ConfigError` saying what is wrong."""
    servers = data.get("mcpServers") if isinstance(data, Mapping) else None
    if not isinstance(servers, Mapping) or not servers:
        raise ConfigError(f'{source}: expected {{"mcpServers": {{"name": {{...}}}}}} with a server')
    parsed: dict[str, McpServerConfig] = {}
    for name, entry in servers.items():
        try:
            parsed[str(name)] = McpServerConfig.model_validate(entry)
        except ValidationError as exc:
            problems = "; ".join(e["msg"] for e in exc.errors())
            raise ConfigError(f"{source}: server {name!r}: {problems}") from None
    return parsed


def read_servers(path: str | Path) -> dict[str, McpServerConfig]:
    """The servers a `mcpServers` JSON file names (a relative `cwd` is taken from the file's
    folder)."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{file}: an MCP config over {MAX_CONFIG_BYTES} bytes is refused")
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read the MCP servers ({exc})") from None
    servers = parse_servers(data, str(file))
    folder = file.resolve().parent
    return {
        name: server.model_copy(update={"cwd": str(folder / server.cwd)})
        if server.cwd is not None and not Path(server.cwd).is_absolute()
        else server
        for name, server in servers.items()
    }


class McpServers:
    """Started MCP servers and their tools; `close()` (or the `with` block's end) stops them.

    ```python
    with McpServers.from_file("servers.json") as servers:
        agent = build_agent(tools=["calculator", *servers.tools])
    ```
    """

    def __init__(
        self, servers: Mapping[str, McpServerConfig], *, start_timeout_s: float = START_TIMEOUT_S
    ) -> None:
        self.servers = dict(servers)
        self.start_timeout_s = start_timeout_s
        self.tools: list[BaseTool] = []
        self._stop: asyncio.Event | None = None
        self._serving: Future[None] | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> McpServers:
        """The servers a `mcpServers` JSON file names (not started yet)."""
        return cls(read_servers(path))

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> McpServers:
        """The servers of a `{"mcpServers": {...}}` mapping (not started yet)."""
        return cls(parse_servers(data))

    def start(self) -> list[BaseTool]:
        """Start every server and list its tools; `ConfigError` when one cannot start."""
        if self._serving is not None:
            return self.tools
        ready: Future[list[BaseTool]] = Future()
        self._stop = asyncio.Event()
        self._serving = background_loop.submit(self._serve(ready, self._stop))
        self._serving.add_done_callback(lambda done: _never_ready(ready, done))
        try:
            self.tools = ready.result(self.start_timeout_s)
        except FutureTimeout:
            # Still starting (a program that never answers): cancel it rather than ask it to stop.
            self._serving.cancel()
            self._serving = None
            raise ConfigError(
                f"MCP servers {', '.join(self.servers)} did not start within "
                f"{self.start_timeout_s:g} s"
            ) from None
        except ConfigError:
            self.close()
            raise
        return self.tools

    async def _serve(self, ready: Future[list[BaseTool]], stop: asyncio.Event) -> None:
        # One task opens and closes every session: the transports' cancel scopes must be
        # left in the task that entered them.
        try:
            from langchain_mcp_adapters.client import MultiServerMCPClient
            from langchain_mcp_adapters.tools import load_mcp_tools
        except ImportError:
            ready.set_exception(ConfigError(INSTALL_HINT))
            return
        connections: Any = {name: s.connection() for name, s in self.servers.items()}
        client = MultiServerMCPClient(connections)
        async with AsyncExitStack() as stack:
            tools: list[BaseTool] = []
            for name, server in self.servers.items():
                try:
                    session = await stack.enter_async_context(client.session(name))
                    loaded = await load_mcp_tools(
                        session, server_name=name, handle_tool_errors=False
                    )
                except Exception as exc:
                    cause = _innermost(exc)
                    ready.set_exception(
                        ConfigError(f"MCP server {name!r} did not start: {_described(cause)}")
                    )
                    return
                for tool in loaded:
                    _guard(tool, name)
                    metadata = dict(tool.metadata or {})
                    metadata["mcp_server"] = name
                    if server.timeout is not None:
                        metadata["timeout_s"] = server.timeout
                    tool.metadata = metadata
                tools += loaded
            ready.set_result(tools)
            await stop.wait()

    def close(self) -> None:
        """Stop the servers (their sessions close, stdio processes end). Idempotent."""
        serving, stop = self._serving, self._stop
        if serving is None or stop is None:
            return
        self._serving = None
        background_loop.background_loop().call_soon_threadsafe(stop.set)
        try:
            serving.result(STOP_TIMEOUT_S)
        except FutureTimeout:
            serving.cancel()
        except Exception:
            # A server that died leaves its transport broken: closing it may raise. The
            # calls already recorded what happened; there is nothing left to stop.
            return

    def __enter__(self) -> McpServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SERVER_GONE = "MCP server {server!r} is not answering ({error}); it may have stopped"


def _guard(tool: BaseTool, server: str) -> None:
    """Make a transport failure of the tool's server (a dead process, a closed stream) a
    `ToolError` naming the server; the server's own errors pass as they are."""
    call = getattr(tool, "coroutine", None)
    if not isinstance(tool, StructuredTool) or call is None:
        return

    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await call(*args, **kwargs)
        except (ToolException, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = _described(_innermost(exc))
            raise ToolError(SERVER_GONE.format(server=server, error=error)) from exc

    tool.coroutine = guarded


def _innermost(exc: BaseException) -> BaseException:
    """The first error inside task-group wrappers (anyio raises `ExceptionGroup`s)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _never_ready(ready: Future[list[BaseTool]], serving: Future[None]) -> None:
    """Fail the start when serving ended before the tools were listed (an unexpected error)."""
    if ready.done():
        return
    error = None if serving.cancelled() else serving.exception()
    with contextlib.suppress(Exception):  # the start may have been settled meanwhile
        ready.set_exception(ConfigError(f"MCP servers stopped before starting: {error!r}"))
