"""A small MCP server: unit conversion, written with the `mcp` package's FastMCP.

Run over stdio (what `servers.json` beside this file starts):

    python server.py

or over streamable HTTP on loopback: `python server.py --http 8765` (endpoint
`http://127.0.0.1:8765/mcp`). Needs `pip install 'agentlab[mcp]'`.
"""

from __future__ import annotations

import argparse
from typing import Literal

from mcp.server.fastmcp import FastMCP

Unit = Literal["m", "km", "mi", "ft", "g", "kg", "lb", "c", "f"]

# Each unit in its dimension's base unit (metres, grams); temperatures are converted apart.
FACTORS: dict[str, tuple[str, float]] = {
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "mi": ("length", 1609.344),
    "ft": ("length", 0.3048),
    "g": ("mass", 1.0),
    "kg": ("mass", 1000.0),
    "lb": ("mass", 453.59237),
}

server = FastMCP("units", log_level="WARNING")


def _temperature(value: float, source: str, target: str) -> float:
    celsius = value if source == "c" else (value - 32) * 5 / 9
    return celsius if target == "c" else celsius * 9 / 5 + 32


@server.tool()
def convert(value: float, source: Unit, target: Unit) -> float:
    """Convert a value from one unit to another of the same dimension (length, mass,
    temperature); the result is rounded to 6 significant digits."""
    if {source, target} <= {"c", "f"}:
        return float(f"{_temperature(value, source, target):.6g}")
    if source in ("c", "f") or target in ("c", "f") or FACTORS[source][0] != FACTORS[target][0]:
        raise ValueError(f"cannot convert {source} to {target}: they measure different things")
    return float(f"{value * FACTORS[source][1] / FACTORS[target][1]:.6g}")


@server.tool()
def units() -> dict[str, list[str]]:
    """The units this server knows, by dimension."""
    known: dict[str, list[str]] = {"temperature": ["c", "f"]}
    for unit, (dimension, _) in FACTORS.items():
        known.setdefault(dimension, []).append(unit)
    return known


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve over streamable HTTP")
    options = parser.parse_args()
    if options.http is None:
        server.run(transport="stdio")
        return
    server.settings.port = options.http
    server.run(transport="streamable-http")


if __name__ == "__main__":
    main()
