"""The `python` tool as the executor calls it: one session per run id, artifacts, categories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from agentlab.errors import ToolError
from agentlab.failures import FailureCategory
from agentlab.tools import RunScoped, builtin_tool, output_text
from agentlab.tools.python import MAX_TIMEOUT_S, PythonOutput, PythonRunError, PythonTool

pytestmark = pytest.mark.docker


def config(run_id: str) -> dict[str, Any]:
    return {"configurable": {"agentlab_run_id": run_id, "agentlab_artifacts_dir": "/unused"}}


@pytest.fixture
def tool(docker_client: docker.DockerClient) -> Iterator[PythonTool]:
    python = PythonTool()
    yield python
    python.close()


def test_registered_with_the_executor_contract() -> None:
    python = builtin_tool("python")
    assert isinstance(python, PythonTool) and isinstance(python, RunScoped)
    assert python.idempotent is False
    assert python.timeout_s > MAX_TIMEOUT_S  # the executor waits past the longest run


def test_variables_persist_across_calls_of_one_run(tool: PythonTool) -> None:
    first = tool.invoke({"code": "n = 6\nprint('set n')"}, config=config("run-a"))
    assert isinstance(first, PythonOutput) and first.as_text() == "set n"
    second = tool.invoke({"code": "print('n is', n)\nn * 7"}, config=config("run-a"))
    assert second.as_text() == "n is 6\n42"
    assert output_text(second) == "n is 6\n42"
    with pytest.raises(ToolError, match="NameError"):  # another run has its own namespace
        tool.invoke({"code": "n"}, config=config("run-b"))


def test_plot_comes_back_as_a_png_artifact(tool: PythonTool) -> None:
    out = tool.invoke(
        {
            "code": "import matplotlib.pyplot as plt\nplt.bar([1, 2], [3, 4])\nplt.savefig('bars.png')"
        },
        config=config("run-plot"),
    )
    [artifact] = out.artifacts
    assert artifact.name == "bars.png" and artifact.media_type == "image/png"
    assert artifact.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert out.as_text() == "(no output; files: bars.png)"


def test_code_error_is_a_tool_error_with_the_traceback(tool: PythonTool) -> None:
    with pytest.raises(PythonRunError) as info:
        tool.invoke({"code": "print('partial')\n{}['missing']"}, config=config("run-err"))
    error = info.value
    assert error.category is FailureCategory.EXECUTION_TOOL_ERROR and error.tool_name == "python"
    assert "KeyError: 'missing'" in error.message
    assert "{}['missing']" in error.message  # the failing line, for the model to fix
    assert "partial" in error.message
    assert not error.state_lost


def test_timeout_is_reported_and_says_variables_are_lost(tool: PythonTool) -> None:
    tool.invoke({"code": "kept = 1"}, config=config("run-slow"))
    with pytest.raises(PythonRunError) as info:
        tool.invoke({"code": "while True: pass", "timeout": 1}, config=config("run-slow"))
    assert info.value.category is FailureCategory.EXECUTION_TIMEOUT
    assert info.value.state_lost
    assert "variables from earlier calls are gone" in info.value.message
    out = tool.invoke({"code": "'kept' in globals()"}, config=config("run-slow"))
    assert out.as_text() == "False"


def test_resource_limit_category(tool: PythonTool) -> None:
    with pytest.raises(PythonRunError) as info:
        tool.invoke({"code": "print('x' * 50_000_000)"}, config=config("run-big"))
    assert info.value.category is FailureCategory.EXECUTION_RESOURCE_LIMIT
    assert "output" in info.value.message


def test_timeout_argument_is_validated(tool: PythonTool) -> None:
    with pytest.raises(Exception, match="less than or equal"):
        tool.invoke({"code": "1", "timeout": MAX_TIMEOUT_S + 1}, config=config("run-v"))


def test_end_run_removes_the_container(
    tool: PythonTool, docker_client: docker.DockerClient
) -> None:
    tool.invoke({"code": "1"}, config=config("run-end"))
    container_id = tool._sessions["run-end"].container_id
    tool.end_run("run-end")
    assert "run-end" not in tool._sessions
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container_id)
    tool.end_run("run-end")  # a second end is harmless


def test_warm_gives_the_first_call_of_a_run_a_prestarted_container(
    tool: PythonTool, docker_client: docker.DockerClient
) -> None:
    tool.warm()
    assert tool._pool().wait_ready(60)
    prestarted = {c.id for c in docker_client.containers.list()}
    out = tool.invoke({"code": "print('ready')"}, config=config("run-warm"))
    assert out.as_text() == "ready"
    assert tool._sessions["run-warm"].container_id in prestarted  # not a cold start
