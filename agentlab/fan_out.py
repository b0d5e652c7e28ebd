"""Fan-out: a step run once per item of a list, and the list results it reads and writes.

A step with `for_each` runs one call per item (a literal list, or an earlier
step's list result), each with the item bound to the step's `item` name; the
calls go into the executor's wave side by side, under item ids `s2[0]`,
`s2[1]`, ... (a `[` is never part of a step id, so they cannot clash), and
their results are gathered into the step's own result, in item order.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from agentlab.schemas import REFERENCE, Step
from agentlab.state import StepResult

_ITEM_ID = re.compile(r"^(.+)\[(\d+)\]$")

PARTIAL_FAILURE = "{failed} of {total} items failed: {details}"
NOT_A_LIST = (
    "for_each {source}: the result of {ref} is not a list (a tool's list, or JSON text that is one)"
)
NO_LIST = "for_each {source}: {ref} has no result to take items from"
NOT_A_SOURCE = "for_each must be a list or one ${{id}} of an earlier step, not {source}"


class FanOutError(ValueError):
    """A fan-out's list cannot be had (its source is missing, failed, or not a list)."""


def item_id(step_id: str, index: int) -> str:
    """The id one item's call runs under: `s2[0]`."""
    return f"{step_id}[{index}]"


def split_item_id(call_id: str) -> tuple[str, int | None]:
    """`(step id, item index)` of a call id: `("s2", 0)` for `s2[0]`, `("s1", None)` for `s1`."""
    match = _ITEM_ID.match(call_id)
    return (match.group(1), int(match.group(2))) if match is not None else (call_id, None)


def item_text(value: Any) -> str:
    """What `${item}` (or `${s2[0]}` of a JSON list) substitutes: text as it is, a number
    as written, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def item_value(result: StepResult) -> Any:
    """One item's result in the fan-out's list: its text, or the number the text is."""
    text = result.output.strip()
    try:
        number = json.loads(text)
    except ValueError:
        return text
    return number if isinstance(number, int | float) and not isinstance(number, bool) else text


def list_of(result: StepResult) -> list[Any] | None:
    """The list a result holds, or None: a fan-out's item values (when every item ran), a
    tool's typed output that is a list (or an object with one list field, such as a
    search's hits), or output text that is a JSON list."""
    if result.status != "ok":
        return None
    if result.items is not None:
        return [item_value(r) for r in result.items]
    if isinstance(result.data, list):
        return list(result.data)
    if isinstance(result.data, dict):
        # A typed output with one list field (a search's hits) is that list.
        lists = [v for v in result.data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return list(lists[0])
    try:
        parsed = json.loads(result.output)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def element_text(result: StepResult, index: int) -> str | None:
    """What `${id[index]}` substitutes, or None when that element has no result: a fan-out's
    item when it ran (even if another item failed), else the index-th element of the list."""
    if result.items is not None:
        if index < len(result.items) and result.items[index].status == "ok":
            return result.items[index].output
        return None
    values = list_of(result)
    if values is None or index >= len(values):
        return None
    return item_text(values[index])


def is_available(result: StepResult, index: int | None) -> bool:
    """Whether a reference (`${id}`, or `${id[index]}` with an index) to `result` resolves."""
    if index is None:
        return result.status == "ok"
    return element_text(result, index) is not None


def source_items(step: Step, results: dict[str, StepResult]) -> list[Any]:
    """The items of a fan-out over an earlier step's result (`for_each: "${s1}"`). Raises
    `FanOutError` when that step has no list result (a literal list is substituted by the
    caller, `execution.substitute`)."""
    source = step.source_reference()
    if source is None:
        raise FanOutError(NOT_A_SOURCE.format(source=json.dumps(step.for_each)))
    result = results.get(source)
    ref = f"${{{source}}}"
    if result is None or result.status != "ok":
        raise FanOutError(NO_LIST.format(source=step.for_each, ref=ref))
    values = list_of(result)
    if values is None:
        raise FanOutError(NOT_A_LIST.format(source=step.for_each, ref=ref))
    return values


def literal_length(step: Step) -> int | None:
    """How many items a fan-out runs when its list is written in the plan, else None."""
    return len(step.for_each) if isinstance(step.for_each, list) else None


def item_call(step: Step, index: int) -> Step:
    """The plain step one item runs as: the fan-out's tool, under its item id."""
    return step.model_copy(update={"id": item_id(step.id, index), "for_each": None, "when": ""})


def bound(item: Any, name: str) -> dict[str, str]:
    """The bindings one item's arguments are substituted with: `${name}` is the item."""
    return {name: item_text(item)}


def gathered(step: Step, items: list[Any], results: list[StepResult]) -> StepResult:
    """A fan-out step's result from its items' results (in item order): `ok` with the JSON
    list of their values when every item ran, else `error` saying which items failed."""
    failed = [(i, r) for i, r in enumerate(results) if r.status != "ok"]
    if failed:
        details = "; ".join(
            f"item {i} ({item_text(items[i])[:60]}): {r.output[:200]}" for i, r in failed
        )
        output = PARTIAL_FAILURE.format(failed=len(failed), total=len(results), details=details)
    else:
        output = json.dumps([item_value(r) for r in results], ensure_ascii=False)
    now = time.time()
    return StepResult(
        step_id=step.id,
        tool=step.tool,
        args=step.args,
        status="error" if failed else "ok",
        output=output,
        data=[r.data for r in results],
        started=min((r.started for r in results), default=now),
        ended=max((r.ended for r in results), default=now),
        artifacts=[a for r in results for a in r.artifacts],
        items=results,
    )


def failed_items(result: StepResult) -> int:
    """How many of a fan-out's items failed (0 for any other step)."""
    return sum(1 for r in result.items or [] if r.status != "ok")


def call_count(step: Step, results: dict[str, StepResult]) -> int:
    """How many tool calls a ready step will make: one, or one per item of a fan-out whose
    list is known (written in the plan, or its source's result)."""
    if isinstance(step.for_each, list):
        return len(step.for_each)
    source = step.source_reference()
    if source is None or source not in results:
        return 1
    values = list_of(results[source])
    return len(values) if values is not None else 1


def bind_item(value: Any, name: str, item: Any) -> Any:
    """`value` with a fan-out's `${name}` put in: an argument that is `${name}` alone becomes
    the item itself (its type kept), one that holds it among text gets the item's text;
    other references are left as they are."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole is not None and whole.group(1) == name and whole.group(2) is None:
            return item
        return REFERENCE.sub(
            lambda m: item_text(item) if m.group(1) == name and m.group(2) is None else m.group(0),
            value,
        )
    if isinstance(value, dict):
        return {k: bind_item(v, name, item) for k, v in value.items()}
    if isinstance(value, list):
        return [bind_item(v, name, item) for v in value]
    return value
