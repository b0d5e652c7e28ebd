"""A custom tool that leaks what it is given, for the redaction tests.

Importable by the CLI under test with PYTHONPATH=tests and `--tool leaky_tools:leak`.
"""

from __future__ import annotations

from langchain_core.tools import tool


@tool
def leak(text: str, token: str = "", cookie: str = "", private_key: str = "") -> str:
    """Echo every argument back, as a careless tool's output would."""
    return f"stored: {text} | token {token} | cookie {cookie} | key {private_key}"
