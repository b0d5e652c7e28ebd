"""The machine a benchmark ran on, in one line for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def describe(*extra: str) -> str:
    """Cores, CPU model, memory, kernel and Python, then `extra` (library versions, load)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    parts = [
        f"{os.cpu_count()} cores of an {cpu}",
        f"{mem_gib:.0f} GiB",
        f"Linux {platform.release()}",
        f"Python {platform.python_version()}",
        *extra,
    ]
    return ", ".join(parts)
