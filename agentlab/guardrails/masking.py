"""Masking of secrets and personal data in a task, reversible only at a tool's call.

`mask_text` replaces API keys and other tokens (the formats of
`agentlab.redaction.TOKEN_PATTERNS`), e-mail addresses, phone numbers and
payment card numbers (Luhn-checked) with placeholders such as `[EMAIL_1]`,
and returns the placeholders' values (the vault). The run keeps the vault in
its state, never in a prompt, trace event or memory; `unmask` puts the values
back into the arguments of a tool that declares it needs them
(`private_values`), and `remask` takes them out of what that tool returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentlab.redaction import TOKEN_PATTERNS

EMAIL = r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"
PHONE = r"(?<![\w+])\+?\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]\d{2,4}(?:[ .-]\d{2,4})?\b"
CARD = r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"

# A token rule's `secret` group marks what redaction replaces; masking takes the whole match.
_TOKENS = (p.replace("(?P<secret>", "(?:") for p in TOKEN_PATTERNS.values())
KINDS: dict[str, str] = {
    "SECRET": "|".join(f"(?:{p})" for p in _TOKENS),
    "EMAIL": EMAIL,
    "CARD": CARD,
    "PHONE": PHONE,
}
"""Placeholder kind -> pattern, tried in this order (a key before an address inside it)."""
_PATTERNS = {kind: re.compile(p) for kind, p in KINDS.items()}
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
PLACEHOLDER = re.compile(r"\[(?:SECRET|EMAIL|CARD|PHONE)_\d{1,4}\]")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _accept(kind: str, value: str) -> bool:
    if kind == "CARD":
        digits = re.sub(r"\D", "", value)
        return 13 <= len(digits) <= 19 and _luhn(digits)
    if kind == "PHONE":
        # Nine digits at least (a date, 2026-11-26, has eight), at most E.164's fifteen.
        return 9 <= len(re.sub(r"\D", "", value)) <= 15 and not _DATE.fullmatch(value)
    return True


@dataclass
class Masked:
    """A text with its sensitive values replaced, and the values by placeholder."""

    text: str
    vault: dict[str, str] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        """The kinds masked (`SECRET`, `EMAIL`, ...), each once, in order."""
        return list(dict.fromkeys(p[1:].rsplit("_", 1)[0] for p in self.vault))


def mask_text(text: str, vault: Mapping[str, str] | None = None) -> Masked:
    """`text` with secrets and personal data replaced by placeholders; `vault` (values
    masked before, kept with their placeholders) is extended, never renumbered."""
    known = dict(vault or {})
    by_value = {v: k for k, v in known.items()}
    counts: dict[str, int] = {}
    for placeholder in known:
        kind = placeholder[1:].rsplit("_", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
    for kind, pattern in _PATTERNS.items():

        def replace(match: re.Match[str], kind: str = kind) -> str:
            value = match.group(0)
            if not _accept(kind, value):
                return value
            if value not in by_value:
                counts[kind] = counts.get(kind, 0) + 1
                placeholder = f"[{kind}_{counts[kind]}]"
                known[placeholder] = value
                by_value[value] = placeholder
            return by_value[value]

        text = pattern.sub(replace, text)
    return Masked(text=text, vault=known)


def unmask(value: Any, vault: Mapping[str, str]) -> Any:
    """`value` (a tool's arguments) with every placeholder of `vault` replaced by its value."""
    if not vault:
        return value
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: vault.get(m.group(0), m.group(0)), value)
    if isinstance(value, dict):
        return {k: unmask(v, vault) for k, v in value.items()}
    if isinstance(value, list):
        return [unmask(v, vault) for v in value]
    return value


def remask(text: str, vault: Mapping[str, str]) -> str:
    """`text` (what a tool returned) with every value of `vault` put back as its placeholder."""
    for placeholder, secret in sorted(vault.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(secret, placeholder)
    return text
