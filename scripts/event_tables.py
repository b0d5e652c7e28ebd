"""The field tables of docs/design.md's "Trace events", made from `agentlab.events`.

Each event's table lists its fields with their types and the docstring under
each field, so the page cannot drift from the code: tests/test_event_docs.py
fails when the section differs from what this renders.

    .venv/bin/python scripts/event_tables.py            # print the section
    .venv/bin/python scripts/event_tables.py --write    # rewrite it in docs/design.md
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from agentlab.events import (
    CandidateOutcome,
    Event,
    RecalledMemory,
    StoredMemory,
    TraceEvent,
    Verdict,
)
from agentlab.state import Counters
from agentlab.stops import STOP_TYPES

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"
BEGIN = "<!-- event tables: begin (scripts/event_tables.py --write) -->"
END = "<!-- event tables: end -->"
COMMON = (*Event.model_fields, "type")
"""Fields every event has, documented once."""


def event_models() -> list[type[BaseModel]]:
    """Every model of the `TraceEvent` union, in its order."""
    union = get_args(TraceEvent)[0]  # TraceEvent is Annotated[Union[...], discriminator]
    return list(get_args(union))


PARTS: tuple[type[BaseModel], ...] = (
    Verdict,
    CandidateOutcome,
    Counters,
    RecalledMemory,
    StoredMemory,
    *STOP_TYPES,
)
"""Models that events hold, each with a table of its own."""


def type_name(annotation: Any) -> str:
    """A field's type as the table shows it (`\\|` separates the members of a union)."""
    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is Literal:
        return " \\| ".join(
            f"`{v}`" if isinstance(v, str) else str(v) for v in get_args(annotation)
        )
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in get_args(annotation))
    if origin is typing.Annotated:
        return type_name(get_args(annotation)[0])
    if origin in (list, dict, tuple):
        inner = ", ".join(type_name(a) for a in get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation.__name__
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


DISCRIMINATORS = {"kind": "which stop reason it is"}


def _meaning(model: type[BaseModel], name: str) -> str:
    description = model.model_fields[name].description or DISCRIMINATORS.get(name)
    if not description:
        raise SystemExit(f"{model.__name__}.{name} has no docstring: write one under the field")
    return " ".join(description.split()).replace("|", "\\|")


def table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    """The markdown table of `model`'s fields (less `skip`)."""
    rows = ["| field | type | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        rows.append(f"| `{name}` | {type_name(field.annotation)} | {_meaning(model, name)} |")
    return rows


def _summary(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())


def render() -> str:
    """The section between the markers, markers included."""
    lines = [BEGIN, "", "Every event has:", ""]
    lines += ["| field | type | meaning |", "|---|---|---|"]
    lines.append("| `type` | str | which event it is (the headings below) |")
    lines += table(Event)[2:]
    for model in event_models():
        kind = model.model_fields["type"].default
        lines += ["", f"`{kind}` ({model.__name__}): {_summary(model)}", ""]
        held = next((part for part in PARTS if issubclass(model, part)), None)
        if held is not None:  # an event that is a part of another (Graded is a Verdict)
            skip = (*COMMON, *held.model_fields)
            lines.append(f"The fields of {held.__name__} (below).")
        else:
            skip = COMMON
        own = table(model, skip=skip)
        if len(own) > 2:
            lines += ([""] if held is not None else []) + own
    lines += ["", "What events hold:"]
    for model in PARTS:
        lines += ["", f"{model.__name__}: {_summary(model)}", ""]
        lines += table(model)
    lines += ["", END]
    return "\n".join(lines)


def section(text: str) -> str:
    """The generated section of a design.md text (markers included)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"docs/design.md has no section between {BEGIN!r} and {END!r}")
    return text[start : end + len(END)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the section in design.md")
    args = parser.parse_args()
    if not args.write:
        sys.stdout.write(render() + "\n")
        return
    text = DESIGN.read_text(encoding="utf-8")
    DESIGN.write_text(text.replace(section(text), render()), encoding="utf-8")


if __name__ == "__main__":
    main()
