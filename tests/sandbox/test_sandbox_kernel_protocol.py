"""The supervisor's reading of its untrusted peers, and the judge's rules (no Docker).

`kernel.py` and `judge.py` run inside the container; their parsing is plain
Python, tested here on real pipes. What the worker sends is the user's code
talking: every check below is one a forged frame would have to pass.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest

from agentlab.sandbox import judge, kernel
from agentlab.sandbox.kernel import FrameReader, ProtocolError, parse_call_reply, parse_run_reply


@pytest.fixture
def pipe() -> Iterator[tuple[FrameReader, int]]:
    read_fd, write_fd = os.pipe()
    yield FrameReader(read_fd, limit=1024), write_fd
    os.close(read_fd)
    os.close(write_fd)


def frames(reader: FrameReader) -> list[dict[str, object]]:
    assert reader.fill()
    found = []
    while (frame := reader.next()) is not None:
        found.append(frame)
    return found


def test_frames_arrive_whole_and_in_order(pipe: tuple[FrameReader, int]) -> None:
    reader, write_fd = pipe
    first, second = kernel.encode_frame({"a": 1}), kernel.encode_frame({"b": "\udcff"})
    os.write(write_fd, first + second[:5])
    assert frames(reader) == [{"a": 1}]  # the second is not complete yet
    os.write(write_fd, second[5:])
    assert frames(reader) == [{"b": "\udcff"}]
    assert second.isascii()  # any string encodes, lone surrogates too


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (struct.pack(">I", 1 << 30), "over the limit"),
        (struct.pack(">I", 2) + b"\xff\xfe", "not JSON"),
        (struct.pack(">I", 3) + b"[1]", "not a JSON object"),
        (struct.pack(">I", 4) + b"{'a'", "not JSON"),
    ],
)
def test_anything_but_a_frame_is_a_protocol_error(
    pipe: tuple[FrameReader, int], raw: bytes, why: str
) -> None:
    reader, write_fd = pipe
    os.write(write_fd, raw)
    with pytest.raises(ProtocolError, match=why):
        frames(reader)


GOOD_RUN = {"token": "t", "status": "ok", "result": "1", "error": None}


def test_a_run_reply_is_checked_field_by_field() -> None:
    assert parse_run_reply(GOOD_RUN, names=False) == {"status": "ok", "result": "1", "error": None}
    named = parse_run_reply({**GOOD_RUN, "names": ["add", "f2"]}, names=True)
    assert named["names"] == ["add", "f2"]
    cleaned = parse_run_reply({**GOOD_RUN, "result": "'\udcff'"}, names=False)
    assert cleaned["result"] == "'\\udcff'"  # valid Unicode on its way to the host


@pytest.mark.parametrize(
    "change",
    [
        {"status": "crashed"},  # the supervisor's to say, never the worker's
        {"status": "passed"},
        {"result": 5},
        {"result": "x" * (kernel.RESULT_REPR_CHARS + 101)},
        {"error": "boom"},
        {"error": {"type": "E", "message": "m", "extra": 1}},
        {"error": {"type": "E" * 201, "message": "m"}},
        {"extra": 1},
        {"names": ["ok"]},  # names nobody asked for
    ],
)
def test_a_bad_run_reply_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        parse_run_reply({**GOOD_RUN, **change}, names=False)


@pytest.mark.parametrize("names", [["not an identifier"], ["a"] * 1001, "add", [1]])
def test_bad_names_are_refused(names: object) -> None:
    with pytest.raises(ProtocolError):
        parse_run_reply({**GOOD_RUN, "names": names}, names=True)


def test_a_call_reply_is_a_value_or_an_exception() -> None:
    assert parse_call_reply({"token": "t", "value": "[1, 2]"}) == {"value": "[1, 2]"}
    raised = {"token": "t", "raised": {"type": "ValueError", "message": "no"}}
    assert parse_call_reply(raised) == {"raised": {"type": "ValueError", "message": "no"}}
    for bad in (
        {"token": "t", "value": 5},
        {"token": "t", "value": "1", "raised": None},
        {"token": "t", "raised": "ValueError"},
        {"token": "t", "value": "x" * (kernel.VALUE_CHARS + 1)},
    ):
        with pytest.raises(ProtocolError):
            parse_call_reply(bad)


def test_the_judge_proxies_only_the_codes_own_names() -> None:
    names = ["add", "helper", "abs", "len", "__init__", "class", "encode", "check"]
    chosen = judge.proxied_names(names, "decode", prelude={"encode", "decode", "List"})
    # The entry point always; builtins, dunders, keywords and the prelude's helpers never
    # (the tests' `abs` and the check's `encode` stay the judge's own); the tests' own
    # definitions (`check`) replace any proxy when they run.
    assert chosen == {"decode", "add", "helper", "check"}


class AlwaysEqual:
    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def test_only_literals_cross_into_the_judge() -> None:
    assert judge.literal("f", "[1, 'a', (2.5, None), {'k': {1, 2}}, set()]") == [
        1,
        "a",
        (2.5, None),
        {"k": {1, 2}},
        set(),
    ]
    for text in (repr(AlwaysEqual()), "__import__('os')", "[" * 1000, "1" * 5000):
        with pytest.raises(TypeError, match="not a plain literal"):
            judge.literal("f", text)


def test_exceptions_cross_by_name_from_a_short_list() -> None:
    assert judge.RAISABLE["ValueError"] is ValueError
    for name in ("SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseException"):
        assert name not in judge.RAISABLE
    assert all(issubclass(kind, Exception) for kind in judge.RAISABLE.values())
