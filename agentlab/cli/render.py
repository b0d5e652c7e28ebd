"""Rich rendering of a run's streamed events: the plan, each step, each failure, the answer.

Everything a model, a tool or a trace wrote is escaped (`rich.markup.escape`) before it
is printed: only our own markup is markup.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentlab.citations import Citation
from agentlab.cli.approval import show_request
from agentlab.cli.progress import ModelProgress
from agentlab.failures import FailureEvent
from agentlab.runner import RunResult
from agentlab.schemas import Plan, Reflection, Step
from agentlab.state import StepResult

STATUS_STYLE = {"ok": "green", "error": "red", "skipped": "yellow"}
CITATIONS_SHOWN = 8
"""Sources printed under an answer; `--json` has them all."""
JOIN_WORDS = {
    "clean": "the plan's answer stands (no reflection needed)",
    "always": "the reflector judges every plan",
    "failed_steps": "a step failed",
    "unresolved_answer": "the plan's answer did not resolve",
    "no_template": "the plan wrote no answer",
    "not_usable": "a result is not an answer as it is",
    "examples_failed": "the code fails its examples",
    "examples_passed": "the code passed its examples",
    "untested": "the code ran but nothing checked it: asking for asserts",
    "budget": "replans spent",
}
"""What the joiner's reasons (`agentlab.events.JoinReason`) say to a person."""


def _args(args: dict[str, Any]) -> str:
    text = json.dumps(args, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _call_shape(step: Step) -> str:
    """A step's arguments, with its fan-out and condition when it has them."""
    text = _args(step.args)
    if step.for_each is not None:
        over = json.dumps(step.for_each, ensure_ascii=False)
        text += f" for each ${{{step.item}}} in {over if len(over) <= 60 else over[:57] + '...'}"
    if step.when:
        text += f" when {step.when}"
    return text


class RunRenderer:
    """Prints a run as it goes; pass `handle` to `Runner.run(on_event=...)`.

    With `progress`, a live line shows each model call's tokens as they stream (run with
    `stream_tokens=True`); it clears before anything else prints.
    """

    def __init__(self, console: Console, *, progress: bool = False) -> None:
        self.console = console
        self.progress = ModelProgress(console) if progress else None

    def handle(self, mode: str, chunk: Any) -> None:
        if self.progress is not None:
            if mode == "messages":
                self.progress.token(chunk)
                return
            self.progress.stop()
        if mode == "custom" and isinstance(chunk, dict):
            self._custom(chunk)
        elif mode == "updates" and isinstance(chunk, dict):
            for node, update in chunk.items():
                if isinstance(update, dict):
                    self._update(node, update)

    def _custom(self, event: dict[str, Any]) -> None:
        if event.get("event") == "step_started":
            self.console.print(
                f"  [dim]running {escape(str(event['step_id']))} "
                f"({escape(str(event['tool']))})...[/dim]",
                highlight=False,
            )
        elif event.get("event") == "step_finished":
            result = StepResult.model_validate({k: v for k, v in event.items() if k != "event"})
            self.step(result)
        elif event.get("event") == "joined":
            said = JOIN_WORDS.get(str(event.get("reason")), str(event.get("reason")))
            detail = str(event.get("detail") or "")
            self.console.print(
                f"[bold]join[/bold] {escape(said)}" + (f": {escape(detail)}" if detail else ""),
                highlight=False,
            )

    def step(self, result: StepResult) -> None:
        style = STATUS_STYLE[result.status]
        output = result.output if len(result.output) <= 300 else result.output[:300] + "..."
        self.console.print(
            f"  [{style}]{escape(result.step_id)} {result.status}[/{style}] {escape(result.tool)}"
            f"({escape(_args(result.args))}) -> {escape(output)}",
            highlight=False,
        )

    def _update(self, node: str, update: dict[str, Any]) -> None:
        plan = update.get("plan")
        if isinstance(plan, Plan):
            self.plan(plan)
        reflections = update.get("reflections")
        for reflection in reflections if isinstance(reflections, list) else []:
            if isinstance(reflection, Reflection):
                detail = reflection.answer or reflection.critique
                self.console.print(
                    f"[bold]reflect[/bold] {reflection.decision}: {escape(detail)}", highlight=False
                )
        failures = update.get("failures")
        for failure in failures if isinstance(failures, list) else []:
            if isinstance(failure, FailureEvent):
                self.console.print(
                    f"  [red]✗ {failure.category}[/red] [dim]({failure.node})[/dim] "
                    f"{escape(failure.detail)}",
                    highlight=False,
                )

    def plan(self, plan: Plan) -> None:
        table = Table(title="plan", title_justify="left", show_edge=False, pad_edge=False)
        for column in ("id", "tool", "args", "why"):
            table.add_column(column)
        for step in plan.steps:
            table.add_row(
                escape(step.id), escape(step.tool), escape(_call_shape(step)), escape(step.why)
            )
        self.console.print(table)

    def sources(self, citations: list[Citation]) -> None:
        """The documents the answer rests on: path and heading, to check it against."""
        if not citations:
            return
        named = citations[0].named
        title = "sources" if named else "searched (the answer names none of them)"
        self.console.print(f"[bold]{title}:[/bold]", highlight=False)
        for citation in citations[:CITATIONS_SHOWN]:
            self.console.print(
                f"  [cyan]{escape(citation.location)}[/cyan] — {escape(citation.heading)}",
                highlight=False,
                soft_wrap=True,
            )
        more = len(citations) - CITATIONS_SHOWN
        if more > 0:
            self.console.print(f"  [dim]and {more} more (--json lists them)[/dim]")

    def result(self, result: RunResult) -> None:
        if self.progress is not None:
            self.progress.stop()
        if result.status == "answered":
            self.console.print(
                f"[bold green]answer:[/bold green] {escape(result.answer or '')}", highlight=False
            )
            self.sources(result.citations)
        elif result.awaiting is not None:
            show_request(self.console, result.awaiting)
            self.console.print(
                f"[bold yellow]waiting[/bold yellow]: resume with `agentlab run --thread "
                f"{escape(str(result.thread_id))} --resume approve|reject|'{{...args}}'`",
                highlight=False,
                soft_wrap=True,
            )
        else:
            self.console.print(
                f"[bold red]{result.status}[/bold red]: {escape(result.status_detail or 'no answer')}",
                highlight=False,
                soft_wrap=True,
            )
        for effect in result.effects:
            self.console.print(
                f"[bold]effect:[/bold] {escape(effect.tool)} {escape(effect.action)} "
                f"{escape(effect.target)} ({escape(effect.detail)})",
                highlight=False,
            )
        counters = result.counters
        self.console.print(
            f"[dim]llm calls {counters.llm_calls}, tokens {counters.tokens}, "
            f"tool calls {counters.tool_calls}, replans {counters.replans}[/dim]"
        )
        if result.trace_path:
            self.console.print(
                f"[dim]trace: {escape(result.trace_path)}[/dim]", highlight=False, soft_wrap=True
            )
