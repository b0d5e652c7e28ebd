"""`agentlab serve`: the agent on LangGraph's development server (`langgraph dev`, in memory)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Annotated

import typer

from agentlab import settings
from agentlab.cli.session import usage_error
from agentlab.private_files import private_dir, write_private_bytes
from agentlab.serve import LANGGRAPH_CONFIG

SERVE_HINT = (
    "agentlab serve needs LangGraph's server: pip install 'agentlab[serve]' (langgraph-cli[inmem])"
)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless you mean to share it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 2024,
    model: Annotated[
        str | None,
        typer.Option(help="Model spec for every run (default: AGENTLAB_MODEL, as `run` picks)."),
    ] = None,
) -> None:
    """Serve the agent over LangGraph's API (threads, streaming, Studio) until interrupted.

    Runs `langgraph dev` with the in-memory runtime on `agentlab.serve:make_graph`; its
    folder (`langgraph.json`, the runtime's saved state) is AGENTLAB_HOME/serve. Clients
    send `{"task": ...}` or chat-style `{"messages": [...]}`; an assistant's
    `configurable.variant` picks the variant.
    """
    if importlib.util.find_spec("langgraph_api") is None:
        raise usage_error(SERVE_HINT)
    home = settings.home().resolve()
    folder = private_dir(home / "serve")
    config_file = folder / "langgraph.json"
    write_private_bytes(config_file, json.dumps(LANGGRAPH_CONFIG, indent=2).encode())
    env = {
        **os.environ,
        settings.HOME_ENV: str(home),  # absolute: the server runs in its own folder
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    if model:
        env[settings.MODEL_ENV] = model
    command = [
        *(sys.executable, "-m", "langgraph_cli", "dev", "--config", str(config_file)),
        *("--host", host, "--port", str(port), "--no-browser", "--no-reload"),
    ]
    server = subprocess.Popen(command, cwd=folder, env=env)
    try:
        code = server.wait()
    except KeyboardInterrupt:  # the server got the same signal and shuts down
        code = server.wait()
    raise typer.Exit(code)
