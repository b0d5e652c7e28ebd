"""Facts a user states about themselves, found by patterns (offline, no model call).

Each fact has a subject, so that a later fact on the same subject replaces it
instead of standing beside it: "my favourite colour is blue" then "my favourite
colour is green" leaves one current fact. Preferences without a named subject
("I prefer tea") get theirs when stored: the store's nearest preference on the
same topic (see `LongTermMemory`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFERENCE = "preference"
"""The subject given to a preference whose topic the store resolves."""

_END = r"(?P<value>[^.;!?\n]+?)\s*(?:[.;!?\n]|,\s*(?:and|but|so|please)\b|$)"
_PATTERNS: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"\bmy name is " + _END, re.I), "name"),
    (re.compile(r"\bcall me " + _END, re.I), "name"),
    (re.compile(r"\bi live in " + _END, re.I), "home"),
    (re.compile(r"\bi work (?:at|for) " + _END, re.I), "employer"),
    (re.compile(r"\bi am (?P<value>\d+) years old\b", re.I), "age"),
    (
        re.compile(
            r"\bmy (?P<subject>(?!(?:name|question|task|problem|answer)\b)[a-z][a-z' -]{1,40}?) "
            r"(?:is|are) " + _END,
            re.I,
        ),
        None,
    ),
    (
        re.compile(
            r"\bi (?:now |really |much |usually |always )?(?:prefer|like|love|enjoy) " + _END,
            re.I,
        ),
        PREFERENCE,
    ),
]
_QUESTION = re.compile(
    r"^\s*(what|which|who|how|why|when|where|do|does|did|can|could|is|are)\b", re.I
)


@dataclass(frozen=True, slots=True)
class StatedFact:
    """One fact: its subject and the sentence to remember."""

    subject: str
    text: str


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?\n])\s+", text) if s.strip()]


def stated_facts(text: str) -> list[StatedFact]:
    """The facts the user states in `text` (questions are not statements)."""
    facts: list[StatedFact] = []
    for sentence in _sentences(text):
        if _QUESTION.match(sentence) or sentence.rstrip().endswith("?"):
            continue
        for pattern, subject in _PATTERNS:
            match = pattern.search(sentence)
            if match is None:
                continue
            value = match.group("value").strip(" ,")
            if not value:
                continue
            found = subject or " ".join(match.group("subject").lower().split())
            statement = sentence[match.start() : match.end("value")].strip()
            facts.append(StatedFact(found, "User: " + statement.rstrip(".!;") + "."))
            break
    return facts
