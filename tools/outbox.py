"""`outbox`: compose an e-mail and queue it in a local outbox folder (a stand-in for a mail
server).

A write action (`side_effects`): every call waits for approval under the
agent's policy. Each message is one RFC 5322 file (`<run id>-<n>.eml`) in
`AGENTLAB_HOME/outbox` (or the tool's `root`); nothing is sent anywhere. The
recipient, subject and body come from a model: one plain address, no line
breaks in headers (the standard library's SMTP policy refuses them), sizes
capped.
"""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from agentlab import settings
from agentlab.effects import Effect
from agentlab.errors import ToolError
from agentlab.paths import contained, safe_name
from agentlab.private_files import private_dir, write_private_bytes
from agentlab.tools.base import WriteTool, tool_run_context
from agentlab.tools.effects import EffectOutput

TOOL_NAME = "outbox"
SENDER = "agent@agentlab.invalid"
"""The From address of every message (`.invalid` is reserved: it can reach no one)."""
MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 20_000
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
"""One plain address (no display name, no list, no comment)."""


class OutboxArgs(BaseModel):
    """Arguments of `outbox`."""

    to: str = Field(description="the recipient's e-mail address")
    subject: str = Field(description="the subject line")
    body: str = Field(description="the message text")


def compose(to: str, subject: str, body: str) -> EmailMessage:
    """The message, checked: one plain address, a one-line subject, sizes capped."""
    address = to.strip()
    if not ADDRESS.fullmatch(address):
        raise ToolError(f"{to!r} is not one plain e-mail address (name@example.org)")
    if len(subject) > MAX_SUBJECT_CHARS or "\n" in subject or "\r" in subject:
        raise ToolError(f"the subject must be one line of at most {MAX_SUBJECT_CHARS} characters")
    if len(body) > MAX_BODY_CHARS:
        raise ToolError(f"the body is over {MAX_BODY_CHARS:,} characters; write less")
    message = EmailMessage(policy=SMTP)
    message["From"] = SENDER
    message["To"] = address
    message["Subject"] = subject
    message.set_content(body)
    return message


class OutboxTool(WriteTool):
    """Queue an e-mail in the local outbox."""

    name: str = TOOL_NAME
    description: str = (
        "Compose an e-mail (to, subject, body) and queue it in the outbox for sending. "
        "A write action: it may need the user's approval."
    )
    args_schema: type[BaseModel] = OutboxArgs

    root: Path | None = None
    """The outbox folder; None: `AGENTLAB_HOME/outbox`."""

    def folder(self) -> Path:
        """The outbox folder, made owner-only if missing."""
        return private_dir(self.root if self.root is not None else settings.home() / "outbox")

    def _run(
        self,
        to: str,
        subject: str,
        body: str,
        *,
        config: RunnableConfig,
        **_: Any,
    ) -> EffectOutput:
        message = compose(to, subject, body)
        run_id = safe_name(tool_run_context(config).run_id, limit=64)
        name = f"{run_id}-{uuid.uuid4().hex[:8]}.eml"
        target = contained(self.folder(), name)
        write_private_bytes(target, message.as_bytes())
        effect = Effect(tool=self.name, action="queue", target=name, detail=f"to {to.strip()}")
        return EffectOutput(
            effect=effect, summary=f"queued a message to {to.strip()} in the outbox ({name})"
        )
