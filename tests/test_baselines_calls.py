"""Function calls written as text (BFCL's prompting format), parsed with `ast`, never run."""

from __future__ import annotations

import re

import pytest

from agentlab.baselines.calls import CallSyntaxError, parse_calls


def calls(text: str) -> list[tuple[str, dict[str, object]]]:
    return [(s.tool, s.args) for s in parse_calls(text).steps]


def test_the_accepted_forms() -> None:
    assert calls("[calculate_triangle_area(base=10, height=5)]") == [
        ("calculate_triangle_area", {"base": 10, "height": 5})
    ]
    assert calls("math.factorial(number=5)") == [("math.factorial", {"number": 5})]  # no brackets
    assert calls("```python\n[a(x=-1.5), b(y='t', z=None)]\n```") == [
        ("a", {"x": -1.5}),
        ("b", {"y": "t", "z": None}),
    ]
    assert calls('[f(items=[1, (2, 3)], opts={"k": True, 2: "v"}, unit=celsius)]') == [
        ("f", {"items": [1, [2, 3]], "opts": {"k": True, "2": "v"}, "unit": "celsius"})
    ]
    assert [s.id for s in parse_calls("[f(), g()]").steps] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no function call"),
        ("[f(1, 2)]", "name every argument"),
        ("[f(**kw)]", "no **arguments"),
        ("[f(x=g(y=1))]", "must be a literal"),
        ("[f(x=__import__('os').system('id'))]", "must be a literal"),
        ("[f(x=2**100)]", "must be a literal"),
        ("[f(x=lambda: 1)]", "must be a literal"),
        ("[f(x={k: 1})]", "dict keys"),
        ("[g()(x=1)]", "must be a name"),
        ("[f(x=1), 3]", "item 2 is not a function call"),
        ("[f(x=1]", "not Python call syntax"),
        ("[" * 300 + "]" * 300, "not Python call syntax"),
        ("f(x='" + "a" * 30_000 + "')", "longer than"),
    ],
)
def test_what_is_refused_says_why(text: str, reason: str) -> None:
    with pytest.raises(CallSyntaxError, match=re.escape(reason)):
        parse_calls(text)
