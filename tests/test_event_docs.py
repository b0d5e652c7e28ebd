"""docs/design.md documents every trace event field by field, and cannot drift from
`agentlab.events`: its section is what scripts/event_tables.py renders from the models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def event_tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "event_tables", ROOT / "scripts" / "event_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_design_section_is_what_the_models_render() -> None:
    tables = event_tables()
    written = tables.section((ROOT / "docs" / "design.md").read_text(encoding="utf-8"))
    assert written == tables.render(), (
        "docs/design.md's trace events differ from agentlab/events.py: "
        "run .venv/bin/python scripts/event_tables.py --write"
    )


def test_every_field_of_every_event_is_in_its_table() -> None:
    tables = event_tables()
    written = tables.section((ROOT / "docs" / "design.md").read_text(encoding="utf-8"))
    blocks = {block.split("\n", 1)[0]: block for block in written.split("\n\n`")}
    for model in tables.event_models():
        kind = model.model_fields["type"].default
        [block] = [b for head, b in blocks.items() if head.startswith(f"{kind}` ")]
        held = next((p for p in tables.PARTS if issubclass(model, p)), None)
        for name in model.model_fields:
            if name in tables.COMMON or (held is not None and name in held.model_fields):
                continue
            assert f"| `{name}` |" in block, f"{model.__name__}.{name} is not in its table"
    for model in (*tables.PARTS, tables.Event):
        for name in model.model_fields:
            assert f"| `{name}` |" in written, f"{model.__name__}.{name} is not documented"
