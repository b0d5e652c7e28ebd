"""Sandbox latency: a warm call and a pool start against the per-call alternatives.

All measured in one run, on one engine and one image:

* warm call: `print(1)` in an open session, against `docker exec <container>
  python3 -c 'print(1)'` per call and `docker run --rm IMAGE python3 -c 'print(1)'`
  per call (the docker CLI, as a user would run them; `docker run` with the
  same network and user as the sandbox);
* session start: a session from the warm pool against a cold start (create,
  start, attach, kernel handshake), each up to its first `print(1)` result.

The figures go into the "## Sandbox latency" section of docs/benchmarks.md
(`--write`); nothing else in that file is touched.

    .venv/bin/python benchmarks/sandbox_latency.py [--warm 300] [--exec 30] [--run 15] [--starts 10] [--write]
    .venv/bin/python benchmarks/sandbox_latency.py --smoke    # a few calls each: does it run?
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from machine import describe
from smoke import add_smoke, refuse_write

from agentlab.sandbox import SandboxPool, Session, connect, image_tag
from agentlab.sandbox.limits import SANDBOX_UID

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Sandbox latency"
TARGETS = {"exec": 8.0, "run": 30.0, "pool": 0.1}


@dataclass(frozen=True)
class Timing:
    name: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def measure(name: str, n: int, action: Callable[[], None], warmup: int = 2) -> Timing:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return Timing(name, samples)


def check_print(session: Session) -> None:
    result = session.run("print(1)")
    if result.stdout != "1\n":
        raise RuntimeError(f"unexpected result: {result}")


def docker_cli(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0 or out.stdout != "1\n":
        raise RuntimeError(f"{shlex.join(argv)} failed: {out.stderr or out.stdout}")


def run_benchmark(args: argparse.Namespace) -> dict[str, Timing]:
    client = connect()
    image = image_tag()
    timings: dict[str, Timing] = {}
    with SandboxPool(size=2, client=client) as pool:
        if not pool.wait_ready(120):
            raise RuntimeError(f"the pool did not fill: {pool.last_error}")
        with pool.session() as session:
            timings["warm"] = measure("warm call", args.warm, lambda: check_print(session))
            exec_argv = ["docker", "exec", session.container_id, "python3", "-c", "print(1)"]
            timings["exec"] = measure(
                "docker exec per call", args.exec, lambda: docker_cli(exec_argv)
            )
        run_argv = [
            "docker", "run", "--rm", "--network", "none", "--user", f"{SANDBOX_UID}",
            image, "python3", "-c", "print(1)",
        ]  # fmt: skip
        timings["run"] = measure("docker run per call", args.run, lambda: docker_cli(run_argv), 1)

        # Time only the start and first call: closing (container removal) is outside.
        pool_samples, cold_samples = [], []
        for _ in range(args.starts):
            pool.wait_ready(120)
            started = time.perf_counter()
            s = pool.session()
            check_print(s)
            pool_samples.append(time.perf_counter() - started)
            s.close()
            started = time.perf_counter()
            c = Session.start(client=client, image=image)
            check_print(c)
            cold_samples.append(time.perf_counter() - started)
            c.close()
        timings["pool"] = Timing("session start from the warm pool", pool_samples)
        timings["cold"] = Timing("cold session start", cold_samples)
    return timings


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def report(timings: dict[str, Timing], command: str) -> str:
    warm, pool, cold = timings["warm"], timings["pool"], timings["cold"]
    exec_ratio = timings["exec"].median / warm.median
    run_ratio = timings["run"].median / warm.median
    pool_ratio = pool.median / cold.median
    machine = describe(f"Docker engine {connect().version().get('Version')}")
    rows = [
        f"| {t.name} | {ms(t.median)} | {ms(t.p90)} | {len(t.samples)} |" for t in timings.values()
    ]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    return "\n".join(
        [
            SECTION,
            "",
            "The `python` tool's sandbox against the per-call alternatives, measured in one",
            "run on one engine and one image (`print(1)`; starts include the first call's",
            "result; `docker exec`/`docker run` through the docker CLI as a user would).",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine}.",
            "",
            "| what | median | p90 | samples |",
            "|---|---|---|---|",
            *rows,
            "",
            "| ratio | measured | target | |",
            "|---|---|---|---|",
            f"| docker exec per call / warm call | {exec_ratio:.0f}× | ≥ {TARGETS['exec']:.0f}× "
            f"| {verdict(exec_ratio >= TARGETS['exec'])} |",
            f"| docker run per call / warm call | {run_ratio:.0f}× | ≥ {TARGETS['run']:.0f}× "
            f"| {verdict(run_ratio >= TARGETS['run'])} |",
            f"| pool start / cold start | {pool_ratio:.3f} | ≤ {TARGETS['pool']} "
            f"| {verdict(pool_ratio <= TARGETS['pool'])} |",
            "",
            "Why the warm call is fast: the kernel is a long-lived process whose stdin/stdout",
            "stay attached, so a call is one framed JSON round trip over the engine's socket",
            "and two pipes inside the container; `docker exec` pays for a new process, its",
            "namespaces and a Python start per call, `docker run` a whole container.",
            "",
        ]
    )


def write_section(text: str) -> None:
    """Replace (or append) only the sandbox section of docs/benchmarks.md."""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: text + "\n", doc, count=1)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warm", type=int, default=300, help="warm calls to time")
    parser.add_argument("--exec", type=int, default=30, help="docker exec calls to time")
    parser.add_argument("--run", type=int, default=15, help="docker run calls to time")
    parser.add_argument("--starts", type=int, default=10, help="pool and cold starts to time")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    add_smoke(parser)
    args = parser.parse_args()
    refuse_write(args, "--write")
    if args.smoke:
        args.warm, args.exec, args.run, args.starts = 3, 1, 1, 1
    command = ".venv/bin/python benchmarks/sandbox_latency.py " + " ".join(sys.argv[1:])
    text = report(run_benchmark(args), command.strip())
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote the '{SECTION}' section of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
