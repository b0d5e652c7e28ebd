"""The output guardrail: a final answer checked against the format or schema the caller declared.

`AgentConfig.answer_format` is a regular expression the whole answer must match;
`AgentConfig.answer_schema` a JSON Schema the answer, read as JSON, must satisfy
(an embedder with a pydantic model passes `Model.model_json_schema()` and reads
`RunResult.structured`). The finalizer checks; a miss is `guardrail.output_invalid`
and goes back to the reflector once with what was wrong, then `goal.no_answer`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

MAX_SHOWN = 120


def answer_problem(
    answer: str, *, pattern: str | None, schema: dict[str, Any] | None
) -> str | None:
    """What is wrong with `answer` under the declared format and schema; None when it fits."""
    text = answer.strip()
    if pattern is not None and re.fullmatch(pattern, text, re.DOTALL) is None:
        return f"the answer must match the format {pattern!r}; it was {text[:MAX_SHOWN]!r}"
    if schema is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return f"the answer must be JSON matching this schema: {json.dumps(schema)[:400]}"
    error = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the answer"
        return f"the answer does not fit its schema at {where}: {error.message[:MAX_SHOWN]}"
    return None


def structured_answer(answer: str | None, schema: dict[str, Any] | None) -> Any:
    """The answer read as JSON when a schema was declared and it fits; else None."""
    if answer is None or schema is None or answer_problem(answer, pattern=None, schema=schema):
        return None
    return json.loads(answer.strip())
