"""`outbox` writes one e-mail file per call into its folder, and refuses header injection."""

from __future__ import annotations

import email
from email.policy import default
from pathlib import Path

import pytest

from agentlab.errors import ToolError
from agentlab.execution import tool_config
from agentlab.tools.effects import EffectOutput
from agentlab.tools.outbox import OutboxTool


def send(tool: OutboxTool, **args: str) -> EffectOutput:
    output = tool.invoke(args, config=tool_config("run1", None))  # type: ignore[arg-type]
    assert isinstance(output, EffectOutput)
    return output


def test_a_message_is_queued_as_an_eml_file(tmp_path: Path) -> None:
    tool = OutboxTool(root=tmp_path / "outbox")
    made = send(tool, to="ana@example.org", subject="Notes", body="Here are the notes.")
    files = list((tmp_path / "outbox").iterdir())
    assert [f.name for f in files] == [made.effect.target]
    message = email.message_from_bytes(files[0].read_bytes(), policy=default)
    assert message["To"] == "ana@example.org" and message["Subject"] == "Notes"
    assert message.get_content().strip() == "Here are the notes."  # type: ignore[attr-defined]
    assert made.effect.detail == "to ana@example.org"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"to": "ana@example.org\r\nBcc: eve@evil.test"}, "plain e-mail address"),
        ({"to": "Ana <ana@example.org>, eve@evil.test"}, "plain e-mail address"),
        ({"to": "not-an-address"}, "plain e-mail address"),
        ({"subject": "hi\r\nBcc: eve@evil.test"}, "one line"),
        ({"body": "x" * 20_001}, "over 20,000"),
    ],
)
def test_bad_messages_are_refused_and_nothing_is_written(
    tmp_path: Path, args: dict[str, str], message: str
) -> None:
    tool = OutboxTool(root=tmp_path / "outbox")
    fields = {"to": "ana@example.org", "subject": "s", "body": "b", **args}
    with pytest.raises(ToolError, match=message):
        send(tool, **fields)
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
