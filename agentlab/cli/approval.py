"""Asking a person about write actions from the terminal, and the `--approve` / `--resume`
options that answer without one."""

from __future__ import annotations

import json
import sys
from typing import Literal

from rich.console import Console
from rich.markup import escape

from agentlab.approvals import (
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    approve_all,
    approve_none,
)
from agentlab.errors import ConfigError

ApproveMode = Literal["ask", "all", "none"]
RESUME_HELP = "approve, reject, or the edited arguments as a JSON object"


def read_resume(text: str) -> ApprovalDecision:
    """`--resume`'s value as a decision; raises `ConfigError` for anything else."""
    if text in ("approve", "reject"):
        return ApprovalDecision(decision=text)
    try:
        args = json.loads(text)
    except json.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise ConfigError(f"--resume takes {RESUME_HELP}, not {text!r}")
    return ApprovalDecision(decision="edit", args=args)


def show_request(console: Console, request: ApprovalRequest) -> None:
    """The step a run waits on, as text (everything in it came from a model: escaped)."""
    args = json.dumps(request.args, ensure_ascii=False, indent=2)
    console.print(
        f"[bold yellow]approval needed[/bold yellow]: step {escape(request.step_id)} "
        f"calls {escape(request.tool)}",
        highlight=False,
    )
    if request.why:
        console.print(f"  why: {escape(request.why)}", highlight=False)
    console.print(escape(args), highlight=False, markup=False)
    for warning in request.flagged:
        console.print(f"  [bold red]warning:[/bold red] {escape(warning)}", highlight=False)


def ask_person(console: Console) -> Approver:
    """An approver that asks on the terminal: y(es), n(o), or e(dit the arguments as JSON)."""

    def ask(request: ApprovalRequest) -> ApprovalDecision:
        show_request(console, request)
        while True:
            choice = console.input(escape("approve? [y]es / [n]o / [e]dit: ")).strip().lower()
            if choice in ("y", "yes"):
                return ApprovalDecision(decision="approve")
            if choice in ("n", "no"):
                note = console.input("why (optional): ").strip()
                return ApprovalDecision(decision="reject", note=note)
            if choice in ("e", "edit"):
                text = console.input("arguments (JSON object): ").strip()
                try:
                    return read_resume(text)
                except ConfigError as exc:
                    console.print(escape(str(exc)), highlight=False)

    return ask


def approver_for(
    mode: ApproveMode, console: Console, *, interactive: bool, thread: str | None
) -> Approver | None:
    """Who answers approval requests: `all` / `none` answer alone; `ask` asks a person on a
    terminal; without one, a run on a `--thread` waits (resume it with `--resume`), any other
    is answered with a rejection (nothing could resume it later)."""
    if mode == "all":
        return approve_all
    if mode == "none":
        return approve_none
    if interactive and sys.stdin.isatty():
        return ask_person(console)
    return None if thread is not None else approve_none
