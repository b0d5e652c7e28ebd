"""Secrets out of what agentlab writes to disk: traces, cassettes, eval outputs.

`redact(data)` takes JSON-ready data (what `json.loads` returns: dicts, lists,
strings, numbers, booleans, None) and returns a copy in which

* the value under a secret-named key (`api_key`, `token`, `cookie`,
  `private_key`, `AWS_SECRET_ACCESS_KEY`, `DATABASE_URL`, `password`, ... in
  any case and separator style) is replaced whole, unless it is a number,
  a boolean or None;
* every string, and every key, has secret-shaped parts replaced: provider
  token formats, JWTs, PEM private-key blocks, the password of a URL,
  `password=...`-style assignments and `Authorization`/`Cookie` headers;
* the value of every secret-named environment variable is replaced wherever
  it occurs.

The token formats follow gitleaks' maintained rule set (config/gitleaks.toml;
`TOKEN_PATTERNS` is named after its rules), written here rather than imported:
gitleaks is a Go tool (no Python package), and detect-secrets, the Python
one, does not fit: its plugins' regexes find a marker rather than the whole
secret (a PEM header without its key, a JWT without its signature), its last
release (1.5.0, 2024) predates `github_pat_`, `hf_` and Google `AIza` keys,
and importing it costs 0.7 s (requests). Trace writing is on the hot path, so
each event is searched once as a whole for the rules that can apply, and only
an event that matches one is walked string by string.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["REDACTED", "Redactor", "env_secrets", "is_secret_name", "redact"]

REDACTED = "[redacted]"

MIN_ENV_SECRET = 6
"""Shorter values of secret-named environment variables are not searched for (too common)."""

_SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "dsn",
        "passphrase",
        "passwd",
        "password",
        "secret",
        "secrets",
        "token",
    }
)
"""A name with one of these as a part (`GITHUB_TOKEN`, `client-secret`) is secret."""

_SECRET_PAIRS = frozenset(
    {
        ("access", "key"),
        ("api", "key"),
        ("connection", "string"),
        ("database", "url"),
        ("db", "url"),
        ("encryption", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("session", "key"),
        ("signing", "key"),
    }
)
"""Two consecutive parts that make a name secret (`private_key`, `DATABASE_URL`)."""

_SECRET_INFIXES = ("password", "passwd", "secret", "credential", "apikey", "privatekey")
"""Parts containing these are secret even when glued to other words (`PGPASSWORD`)."""

_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a key or environment variable name says its value is a secret."""
    parts = [p.lower() for p in _NAME_PARTS.findall(name)]
    if any(p in _SECRET_WORDS or any(i in p for i in _SECRET_INFIXES) for p in parts):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(parts))


# Token formats, after gitleaks' rules of the same names. Each starts with a literal,
# which the regex engine finds with a fast substring search (a leading \b or
# character class makes it try every position: 50-100x slower on a prompt);
# a word boundary, where one is needed, is a look-behind placed after the literal.
TOKEN_PATTERNS: dict[str, str] = {
    # private-key; a block cut short (no END line) is redacted to its end
    "private_key": (
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\]*)"
    ),
    "jwt": r"eyJ[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
    "aws_access_token": r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])",
    "github": r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",
    "gitlab": r"gl(?:pat|dt|ft|rt|soat|cbt|ptt)-[A-Za-z0-9_-]{20,}",
    "huggingface": r"hf_[A-Za-z0-9]{30,}",
    "gcp_api_key": r"AIza[0-9A-Za-z_-]{35}",
    "slack_token": r"xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,}",
    "slack_webhook": r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
    # not task-...; but \nsk-... (an escaped newline in JSON text) is a key
    "openai_anthropic": r"sk-(?:(?<![A-Za-z0-9]sk-)|(?<=\\[nrt]sk-))[A-Za-z0-9_-]{16,}",
    "stripe": r"k_(?<=[rs]k_)(?:live|test)_[A-Za-z0-9]{20,}",
    "npm": r"npm_[A-Za-z0-9]{36}",
    "pypi": r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    "sendgrid": r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    "digitalocean": r"do[opr]_v1_[a-f0-9]{64}",
    "azure_storage": r"AccountKey=(?P<secret>[A-Za-z0-9+/=]{40,})",
    "url_password": r"://[^\s/:@]*:(?P<secret>[^\s/@]+)@",  # scheme://user:PASSWORD@host
}
"""Redacted whole, or only their `secret` group when they have one."""

NAMED_PATTERN = (
    # password=..., "api_key": "...", AWS_SECRET_ACCESS_KEY=..., Authorization: Bearer ...
    # Quotes may be escaped (JSON text inside a string: {\"password\": \"...\"}), and a
    # value stops at a backslash, where such text's next escape begins.
    r"(?i:(?:set-)?cookie[ \t]*:[ \t]*(?P<cookie>[^\r\n\"\\]+)"
    r"|(?:passw(?:or)?d|passphrase|secret|token|credentials?|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|authorization|auth[_-]?token|cookie|dsn"
    r"|database[_-]?url)"
    r"[A-Za-z0-9_.-]{0,30}(?:\\*[\"'])?[ \t]{0,5}[:=][ \t]{0,5}(?:\\*[\"'])?"
    r"(?:(?:bearer|basic|token)[ \t]+)?"
    r"(?P<assigned>[^\s\"'&,;<>(){}\[\]\\]{6,})"
    r"|bearer[ \t]+(?P<bearer>[A-Za-z0-9._~+/=-]{8,}))"
)
"""Secrets announced by a name, case-insensitive; only the value is redacted."""

NAME_STEMS = ("pass", "secret", "token", "credential", "api", "access", "private", "client",
              "auth", "bearer", "cookie", "set-", "dsn", "database")  # fmt: skip
"""Where `NAMED_PATTERN` can start (lower case), found with `str.find`: the pattern
itself, being case-insensitive, has no literal to search for and would be tried at
every position of every string."""

_NAME_TRIGGERS = (*NAME_STEMS, "key", "dsn", "database", "db_url", "dburl", "connection")
"""Substrings without which no key is a secret name and no string holds a named secret."""
_NAMED = re.compile(NAMED_PATTERN)
# The same inside JSON text, where a tab in a string is written \t: to decide
# from an event's JSON text whether any of its strings can hold a named secret.
_NAMED_IN_JSON = re.compile(NAMED_PATTERN.replace(r"[ \t]", r"(?:[ \t]|\\+t)"))
_STEMS = re.compile("|".join(NAME_STEMS))
_TOKENS = {name: re.compile(p) for name, p in TOKEN_PATTERNS.items()}
# For searching an event's JSON text, where escapes change what precedes a token
# ("\nsk-..." is written \\nsk-...): the same patterns without their negative
# look-behinds, so they find a superset.
_TOKENS_IN_JSON = {
    name: re.compile(re.sub(r"\(\?<![^)]*\)", "", p)) for name, p in TOKEN_PATTERNS.items()
}


def _redact_match(match: re.Match[str], group: str | None) -> str:
    """The match with its `group` part (or all of it) replaced."""
    if group is None or match.group(group) is None:
        return REDACTED
    start, end = match.span(group)
    offset = match.start()
    whole = match.group(0)
    return f"{whole[: start - offset]}{REDACTED}{whole[end - offset :]}"


def _redact_tokens(pattern: re.Pattern[str], text: str) -> str:
    group = "secret" if "secret" in pattern.groupindex else None
    return pattern.sub(lambda m: _redact_match(m, group), text)


def _named_spans(text: str, named: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """Where `named` finds a secret in `text`, left to right, without overlaps."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters change length when lowered
        for found in named.finditer(text):
            if found.lastgroup is not None:
                yield found.span(found.lastgroup)
        return
    done = 0
    for start in _stem_positions(lowered):
        if start < done:
            continue
        match = named.match(text, start)
        if match is not None and match.lastgroup is not None:
            yield match.span(match.lastgroup)
            done = match.end(match.lastgroup)


def _redact_named(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for start, end in _named_spans(text, _NAMED):
        pieces += [text[done:start], REDACTED]
        done = end
    return "".join(pieces) + text[done:] if pieces else text


def _stem_positions(lowered: str) -> list[int]:
    """Where a name stem starts in `lowered`, in order."""
    if len(lowered) < 256:
        return [hit.start() for hit in _STEMS.finditer(lowered)]
    # In a long text one substring search per stem beats the alternation's scan (whose
    # first letters, p s t c a b, stop it at every other character).
    positions: list[int] = []
    for stem in NAME_STEMS:
        at = lowered.find(stem)
        while at >= 0:
            positions.append(at)
            at = lowered.find(stem, at + 1)
    return sorted(positions)


@functools.lru_cache(maxsize=4096)
def _redact_key(key: str) -> str:
    """A dict key with every pattern applied (keys repeat from event to event)."""
    for pattern in _TOKENS.values():
        key = _redact_tokens(pattern, key)
    return _redact_named(key)


class Redactor:
    """Replaces secrets in JSON-ready data; build once, call per event (thread-safe).

    The event is first searched whole, as one JSON text, for the rules that can
    apply to it at all; most events match none and come back as they are.
    """

    def __init__(self, env_secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        values = sorted({v for v in env_secrets if len(v) >= MIN_ENV_SECRET}, key=len, reverse=True)
        self._env = re.compile("|".join(map(re.escape, values))) if values else None
        # The JSON text escapes quotes, backslashes and control characters: look for both forms.
        escaped = {json.dumps(v, ensure_ascii=False)[1:-1] for v in values}
        self._env_in_json = (
            re.compile("|".join(map(re.escape, sorted(escaped | set(values))))) if values else None
        )

    def __call__(self, value: Any) -> Any:
        """A copy of JSON-ready `value` with every secret replaced by `REDACTED`
        (`value` itself when it holds none)."""
        return self.redact_serialised(value, json.dumps(value, ensure_ascii=False))

    def redact_serialised(self, value: Any, serialised: str) -> Any:
        """`self(value)` for a caller that already has `serialised`, the JSON text whose
        `json.loads` is `value` (saves dumping it again)."""
        tokens = [_TOKENS[n] for n, p in _TOKENS_IN_JSON.items() if p.search(serialised)]
        lowered = serialised.lower()
        names = any(stem in lowered for stem in _NAME_TRIGGERS)
        named_text = names and next(_named_spans(serialised, _NAMED_IN_JSON), None) is not None
        env = self._env if self._env_in_json and self._env_in_json.search(serialised) else None
        if not tokens and not names and env is None:
            return value
        return _Walk(tokens, secret_keys=names, named_text=named_text, env=env)(value)


class _Walk:
    """One event's redaction, with the rules its JSON text showed can apply."""

    def __init__(
        self,
        tokens: list[re.Pattern[str]],
        *,
        secret_keys: bool,
        named_text: bool,
        env: re.Pattern[str] | None,
    ) -> None:
        self.tokens = tokens
        self.secret_keys = secret_keys
        self.named_text = named_text
        self.env = env

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.key(k): self.keyed(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def key(self, key: str) -> str:
        if len(key) < MIN_ENV_SECRET:
            return key
        key = _redact_key(key)
        return key if self.env is None else self.env.sub(REDACTED, key)

    def keyed(self, key: str, value: Any) -> Any:
        secret = self.secret_keys and is_secret_name(key)
        if secret and value not in ("", None) and not isinstance(value, bool | int | float):
            return REDACTED
        return self(value)

    def text(self, text: str) -> str:
        if len(text) < MIN_ENV_SECRET:
            return text
        for pattern in self.tokens:
            text = _redact_tokens(pattern, text)
        if self.named_text:
            text = _redact_named(text)
        if self.env is not None:
            text = self.env.sub(REDACTED, text)
        return text


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the secret-named variables in `environ` (default: this process's)."""
    source = os.environ if environ is None else environ
    return [v for k, v in source.items() if is_secret_name(k) and len(v) >= MIN_ENV_SECRET]


@functools.lru_cache(maxsize=8)
def _redactor(env: tuple[str, ...]) -> Redactor:
    return Redactor(env)


def redact(value: Any, env: Iterable[str] | None = None) -> Any:
    """A copy of JSON-ready `value` with its secrets replaced (`env`: the values to treat
    as secrets besides the patterns, default those of this process's environment)."""
    return _redactor(tuple(env_secrets() if env is None else env))(value)
