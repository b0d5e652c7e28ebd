"""Masking (Must show 4 of issue 18): a task holding an API key and an e-mail address.

The key never reaches a model request, the trace, the cassette or long-term
memory; the outbox, which needs the address (and declares it), still gets the
real values. The model is a replay cassette whose requests are kept.
"""

from __future__ import annotations

import email
import json
from email.policy import default
from pathlib import Path

from langgraph.store.memory import InMemoryStore
from support import finish, of_type, plan, step, write_cassette

from agentlab.approvals import approve_all
from agentlab.config import AgentConfig
from agentlab.failures import FailureEvent
from agentlab.guardrails.masking import mask_text, remask, unmask
from agentlab.llm.replay import ReplayChatModel
from agentlab.runner import Runner
from agentlab.tools.outbox import OutboxTool
from agentlab.trace import read_trace

KEY = "sk-proj-Ab12Cd34Ef56Gh78Ij90KlMnOp"
ADDRESS = "ops.team@example.org"
TASK = f"Mail our API key {KEY} to {ADDRESS} with the subject 'Key'."


def test_the_key_reaches_no_model_trace_cassette_or_memory(tmp_path: Path) -> None:
    cassette = write_cassette(
        tmp_path / "c.jsonl",
        plan(
            step("s1", "outbox", to="[EMAIL_1]", subject="Key", body="The key: [SECRET_1]"),
            answer="${s1}",
        ),
        finish("done"),
    )
    model = ReplayChatModel(path=str(cassette))
    store = InMemoryStore()
    outbox = OutboxTool(root=tmp_path / "outbox")
    runner = Runner(
        AgentConfig(masking=True),
        model=model,
        tools=[outbox],
        trace_dir=tmp_path / "runs",
        record=tmp_path / "recorded.jsonl",
        store=store,
        approver=approve_all,
    )
    with runner:
        result = runner.run(TASK, user_id="u1")
    assert result.status == "answered", result.status_detail

    # No model request held the key or the address; the placeholders stood in.
    requests = "\n".join(str(m.content) for call in model.calls for m in call)
    assert model.calls and KEY not in requests and ADDRESS not in requests
    assert "[SECRET_1]" in requests and "[EMAIL_1]" in requests
    # Nor the trace, the recorded cassette or the memories stored.
    trace_text = Path(str(result.trace_path)).read_text(encoding="utf-8")
    assert KEY not in trace_text and ADDRESS not in trace_text
    recorded = (tmp_path / "recorded.jsonl").read_text(encoding="utf-8")
    assert KEY not in recorded and ADDRESS not in recorded
    stored = json.dumps([item.value for item in store.search(("memories",), limit=1000)])
    stored += json.dumps([item.value for item in _all_items(store)])
    assert KEY not in stored and ADDRESS not in stored
    assert KEY not in (result.answer or "") and ADDRESS not in (result.answer or "")
    # The outbox got the real values.
    [sent] = list((tmp_path / "outbox").iterdir())
    message = email.message_from_bytes(sent.read_bytes(), policy=default)
    assert message["To"] == ADDRESS
    assert KEY in message.get_content()  # type: ignore[attr-defined]
    # The masking is noted as a guardrail event.
    masked = [
        f for f in of_type(read_trace(Path(str(result.trace_path))), FailureEvent)
        if f.category == "guardrail.input_masked"
    ]  # fmt: skip
    assert len(masked) == 1 and "secret" in masked[0].detail and "email" in masked[0].detail


def _all_items(store: InMemoryStore) -> list[object]:
    found = []
    for namespace in store.list_namespaces(limit=1000):
        found += store.search(namespace, limit=1000)
    return found


def test_masking_is_off_for_a_replayed_model_unless_asked(tmp_path: Path) -> None:
    cassette = write_cassette(tmp_path / "c.jsonl", plan(answer="fine"))
    with Runner(
        AgentConfig(memory=False), model=f"replay:{cassette}", trace_dir=tmp_path / "runs"
    ) as runner:
        result = runner.run(f"say fine to {ADDRESS}")
    assert ADDRESS in Path(str(result.trace_path)).read_text(encoding="utf-8")


def test_mask_unmask_remask_round_trip() -> None:
    card = "4111 1111 1111 1111"
    masked = mask_text(f"key {KEY}, mail {ADDRESS}, call +44 20 7946 0958, card {card}, id 1234")
    assert masked.kinds == ["SECRET", "EMAIL", "CARD", "PHONE"]
    for value in (KEY, ADDRESS, card, "+44 20 7946 0958"):
        assert value not in masked.text
    assert "id 1234" in masked.text  # a short number is not a phone or a card
    dates = "due 2026-11-26, paid 26.11.2026, order 1234-5678"
    assert mask_text(dates).text == dates  # dates and short ids are not phone numbers
    args = {"to": "[EMAIL_1]", "body": ["[SECRET_1]", "[CARD_1]"], "n": 3}
    assert unmask(args, masked.vault) == {"to": ADDRESS, "body": [KEY, card], "n": 3}
    assert remask(f"sent to {ADDRESS}", masked.vault) == "sent to [EMAIL_1]"
    # A value seen again keeps its placeholder; a new one gets the next number.
    again = mask_text(f"{ADDRESS} and other@example.org", masked.vault)
    assert again.text == "[EMAIL_1] and [EMAIL_2]"
