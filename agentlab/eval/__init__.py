"""Evaluation: task suites, checks, the harness that runs them under ablation variants,
and the failure report. Never imports the terminal UI (rich/typer stay in the CLI)."""

from agentlab.eval.harness import EvalSettings, Evaluation, PairResult, cassette_path, safe_name
from agentlab.eval.suite import Suite, Task, load_suite, shipped_suites
from agentlab.eval.verdict import GradingSink
from agentlab.events import Verdict

__all__ = [
    "EvalSettings",
    "Evaluation",
    "GradingSink",
    "PairResult",
    "Suite",
    "Task",
    "Verdict",
    "cassette_path",
    "load_suite",
    "safe_name",
    "shipped_suites",
]
