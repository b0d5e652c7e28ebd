"""Redaction: every listed format and name, inside any JSON-ready value, and nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secrets_corpus import ENV_SECRETS, SECRETS, SENSITIVE

from agentlab.events import NodeStep, PlanMade, Reflected
from agentlab.redaction import (
    _TOKENS,
    REDACTED,
    Redactor,
    _Walk,
    env_secrets,
    is_secret_name,
    redact,
)
from agentlab.schemas import Plan, Reflection, Step
from agentlab.trace import MemoryTraceSink, Tracer


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_format_is_redacted_wherever_it_sits(kind: str) -> None:
    secret = SECRETS[kind]
    event = {
        "text": f"before {secret} after",
        "nested": [{"deep": [secret]}],
        "json_in_a_string": json.dumps({"note": secret}),
        secret: "a secret used as a key",
    }
    clean = redact(event, env=[])
    text = json.dumps(clean)
    assert SENSITIVE[kind] not in text
    assert REDACTED in clean["text"] and clean["text"].startswith("before ")


@pytest.mark.parametrize(
    "name",
    [
        "token",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "cookie",
        "Set-Cookie",
        "private_key",
        "password",
        "db_password",
        "passwd",
        "client_secret",
        "Authorization",
        "credentials",
        "AWS_SECRET_ACCESS_KEY",
        "aws_session_token",
        "DATABASE_URL",
        "database_url",
        "PGPASSWORD",
        "GITHUB_TOKEN",
        "hf_token",
        "SENTRY_DSN",
    ],
)
def test_secret_named_keys_are_redacted_whole(name: str) -> None:
    clean = redact({name: "opaque-value-123", "nested": {name: {"any": "shape"}}}, env=[])
    assert clean[name] == REDACTED
    assert clean["nested"][name] == REDACTED
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["tokens_in", "tokens_out", "max_tokens", "author", "key", "run_id", "thread_id", "PWD",
     "TOKENIZERS_PARALLELISM", "passed", "keyword"],
)  # fmt: skip
def test_ordinary_names_are_kept(name: str) -> None:
    assert not is_secret_name(name)
    assert redact({name: "kept-value-123"}, env=[]) == {name: "kept-value-123"}


def test_counts_under_secret_names_are_kept() -> None:
    clean = redact({"token": 512, "secret": None, "password": "", "cookie": True}, env=[])
    assert clean == {"token": 512, "secret": None, "password": "", "cookie": True}


NOT_SECRETS = [
    "task-decomposition-strategies-for-agents",
    "basic arithmetic with tokens: 1507",
    "Press any key: continue",
    "The total is 395 bottles.",
    '{"steps": [{"id": "s1", "tool": "calculator", "args": {"expression": "17*23"}}]}',
    "sha256 cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    "run 7d4f735e48554b29878af46a7435f481 at https://example.com/docs/page",
    "max_tokens=512, passed 3 of 3, access granted to the api",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact({"text": text}, env=[]) == {"text": text}


def test_environment_secrets_by_name_any_case() -> None:
    environ = {**ENV_SECRETS, "HOME": "/root/home-dir", "PWD": "/work/somewhere"}
    found = env_secrets(environ)
    assert sorted(found) == sorted(ENV_SECRETS.values())
    redactor = Redactor(found)
    task = " and ".join(ENV_SECRETS.values()) + " in /work/somewhere"
    clean = redactor({"task": task})
    assert all(value not in clean["task"] for value in ENV_SECRETS.values())
    assert clean["task"].endswith(" in /work/somewhere")


def test_an_environment_secret_with_json_escapes_is_still_found() -> None:
    # The event is searched as JSON text first, where " and \ are escaped.
    secret = 'quote"and\\slash-9911'
    clean = Redactor([secret])({"text": f"value {secret}!"})
    assert clean == {"text": f"value {REDACTED}!"}


def test_a_plan_and_a_reflection_are_redacted_after_serialisation() -> None:
    # Once, the pydantic plan and reflection were skipped by redact() and dumped
    # afterwards, verbatim, by the sink's JSON encoder.
    sink = MemoryTraceSink()
    key = SECRETS["openai"]
    plan = Plan(steps=[Step(id="s1", tool="calculator", args={"expression": key, "token": "t0p"})])
    reflection = Reflection(decision="finish", answer=f"the key is {SECRETS['huggingface']}")
    tracer = Tracer(sink)
    tracer.write(PlanMade(run_id="r1", node="planner", plan=plan))
    tracer.write(Reflected(run_id="r1", node="reflector", reflection=reflection))
    tracer.write(NodeStep(run_id="r1", node="reflector", duration_s=0.1, answer=SECRETS["jwt"]))
    text = json.dumps([e.model_dump(mode="json") for e in sink.events])
    for kind in ("openai", "huggingface", "jwt"):
        assert SENSITIVE[kind] not in text
    made = sink.events[0]
    assert isinstance(made, PlanMade)
    step = made.plan.steps[0]
    assert step.args == {"expression": REDACTED, "token": REDACTED}
    assert step.tool == "calculator"


def test_an_event_without_secrets_comes_back_equal() -> None:
    event = {"type": "node", "counters": {"tokens_in": 1507}, "steps": ["s1", "s2"], "x": 1.5}
    assert redact(event, env=[]) == event


PIECES = st.sampled_from(
    [*SECRETS.values(), *ENV_SECRETS.values(), "password", "token", "=", ": ", "Bearer ", "\n",
     "\t", '"', "'", "\\", " ", "x", "tokens_in", "key", "://", "@", "é", "İ", "sk-"]
)  # fmt: skip
TEXTS = (
    st.lists(PIECES, max_size=8)
    .map("".join)
    .flatmap(
        # also as JSON text inside a string, once or twice over (a reply quoted in a prompt)
        lambda text: st.sampled_from([text, json.dumps(text), json.dumps(json.dumps(text))])
    )
)
VALUES = st.recursive(
    TEXTS | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_searching_the_json_text_first_never_skips_a_secret(value: object) -> None:
    # The fast path decides from the event's JSON text which rules to apply; applying
    # every rule to every string must give the same result.
    redactor = Redactor(ENV_SECRETS.values())
    every_rule = _Walk(list(_TOKENS.values()), secret_keys=True, named_text=True, env=redactor._env)
    assert redactor(value) == every_rule(value)
