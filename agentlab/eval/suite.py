"""Task suites: a file of tasks, each with a prompt, the tools it may use and the check.

A suite is JSON lines (one task per line) or YAML (a list of tasks, or
`{"tasks": [...]}`). A task:

```json
{"id": "apples", "prompt": "...", "tools": ["calculator"],
 "check": {"kind": "numeric", "value": 207}, "ref_steps": 2}
```

`"answer": "207"` is shorthand for a numeric check (or an exact one when the
answer is not a number). `functions` declares tools by JSON schema (as BFCL
and OpenAI function calling do); the harness turns them into stub tools.
`config` sets `AgentConfig` fields for the task (e.g. the search backend).
Shipped suites are named by their file stem: `math`, `code`, `search`, `multitool`,
`control-flow`.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentlab.config import AgentConfig
from agentlab.errors import ConfigError
from agentlab.jsonl import numbered_lines

SHIPPED_PACKAGE = "agentlab.eval.suites"
SUITE_SUFFIXES = (".jsonl", ".yaml", ".yml")


class _Check(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExactCheck(_Check):
    """The answer equals `value` (whitespace collapsed, a trailing period ignored)."""

    kind: Literal["exact"] = "exact"
    value: str
    case_sensitive: bool = False


class NumericCheck(_Check):
    """The answer's last number is within tolerance of `value` (GSM8K-style grading)."""

    kind: Literal["numeric"] = "numeric"
    value: float
    abs_tol: float = Field(default=1e-6, ge=0)
    rel_tol: float = Field(default=0.0, ge=0)


class RegexCheck(_Check):
    """`pattern` is found in the answer (`re.search`)."""

    kind: Literal["regex"] = "regex"
    pattern: str
    ignore_case: bool = True

    @model_validator(mode="after")
    def _compiles(self) -> RegexCheck:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern {self.pattern!r} does not compile: {exc}") from None
        return self


class OneOfCheck(_Check):
    """The answer equals one of `values` (normalised as for `exact`)."""

    kind: Literal["one_of"] = "one_of"
    values: tuple[str, ...] = Field(min_length=1)
    case_sensitive: bool = False


class CodeTestsCheck(_Check):
    """The answer is Python code; `prelude` + code + `tests` must run clean in the sandbox.

    `prelude` is code placed before the answer (a signature and imports, as
    HumanEval's prompt); with `entry_point`, `check(entry_point)` is called
    after the tests (HumanEval's convention).
    """

    kind: Literal["code_tests"] = "code_tests"
    tests: str
    prelude: str = ""
    entry_point: str | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=300)


class BfclCheck(_Check):
    """The agent's final plan matches BFCL's possible answers (see `adapters.bfcl`)."""

    kind: Literal["bfcl"] = "bfcl"
    ground_truth: tuple[dict[str, dict[str, list[Any]]], ...]
    category: str = "simple_python"


Check = Annotated[
    ExactCheck | NumericCheck | RegexCheck | OneOfCheck | CodeTestsCheck | BfclCheck,
    Field(discriminator="kind"),
]


class Task(BaseModel):
    """One task of a suite."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    """Unique within the suite; traces and reports key on it."""
    prompt: str = Field(min_length=1)
    check: Check
    tools: tuple[str, ...] | None = None
    """Built-in tools the agent may use; None means every built-in tool."""
    functions: tuple[dict[str, Any], ...] = ()
    """Extra tools declared as JSON-schema functions (`name`, `description`, `parameters`)."""
    ref_steps: int | None = Field(default=None, ge=0)
    """Steps a good plan needs, for comparing efficiency."""
    config: dict[str, Any] = Field(default_factory=dict)
    """`AgentConfig` fields this task sets, e.g. `{"search_backend": "local"}`."""
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _config_fields(self) -> Task:
        reserved = {"tools", "without_tools", "variant"}
        unknown = set(self.config) - set(AgentConfig.model_fields)
        if unknown or reserved & set(self.config):
            bad = sorted(unknown | (reserved & set(self.config)))
            raise ValueError(
                f"config may not set {', '.join(bad)} (tools and variants are the suite's)"
            )
        try:
            AgentConfig.model_validate(self.config)
        except ValidationError as exc:
            raise ValueError(f"config: {exc.errors()[0]['msg']}") from None
        return self

    @model_validator(mode="before")
    @classmethod
    def _answer_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "answer" in data:
            data = dict(data)
            if "check" in data:
                raise ValueError('give either "answer" or "check", not both')
            answer = str(data.pop("answer"))
            try:
                data["check"] = {"kind": "numeric", "value": float(answer.replace(",", ""))}
            except ValueError:
                data["check"] = {"kind": "exact", "value": answer}
        return data

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(str(f.get("name")) for f in self.functions)


class Suite(BaseModel):
    """A named, ordered set of tasks with unique ids."""

    model_config = ConfigDict(frozen=True)

    name: str
    tasks: tuple[Task, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Suite:
        seen: set[str] = set()
        duplicates: set[str] = set()
        for task in self.tasks:
            (duplicates if task.id in seen else seen).add(task.id)
        if duplicates:
            raise ValueError(f"duplicate task ids: {', '.join(sorted(set(duplicates)))}")
        return self

    def __len__(self) -> int:
        return len(self.tasks)

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)


def shipped_suites() -> list[str]:
    """Names of the suites agentlab ships."""
    folder = resources.files(SHIPPED_PACKAGE)
    return sorted(
        Path(entry.name).stem
        for entry in folder.iterdir()
        if entry.name.endswith(SUITE_SUFFIXES) and entry.is_file()
    )


def shipped_suite_path(name: str) -> Path:
    """The file of a shipped suite."""
    folder = resources.files(SHIPPED_PACKAGE)
    for suffix in SUITE_SUFFIXES:
        entry = folder / f"{name}{suffix}"
        if entry.is_file():
            return Path(str(entry))
    raise ConfigError(f"no shipped suite {name!r}; shipped: {', '.join(shipped_suites())}")


def _records(path: Path) -> list[tuple[str, Any]]:
    """(location, raw task) pairs of a suite file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not YAML ({exc})") from None
        items = data.get("tasks") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ConfigError(f'{path}: expected a list of tasks or {{"tasks": [...]}}')
        return [(f"{path} task {n}", item) for n, item in enumerate(items, 1)]
    records: list[tuple[str, Any]] = []
    for number, line in numbered_lines(text):
        if line.lstrip().startswith("//"):
            continue
        try:
            records.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return records


def load_suite(source: str | Path) -> Suite:
    """A suite from a file path, or a shipped suite by name (`math`, `code`, `search`)."""
    path = Path(source)
    if not path.exists():
        if isinstance(source, str) and "/" not in source and not path.suffix:
            path = shipped_suite_path(source)
        else:
            raise ConfigError(f"suite file {path} does not exist")
    tasks: list[Task] = []
    for where, raw in _records(path):
        try:
            tasks.append(Task.model_validate(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'task'}: {e['msg']}"
                for e in exc.errors()[:3]
            )
            raise ConfigError(f"{where}: invalid task: {problems}") from None
    if not tasks:
        raise ConfigError(f"suite {path} holds no tasks")
    try:
        return Suite(name=path.stem, tasks=tuple(tasks))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {exc.errors()[0]['msg']}") from None
