"""Where pairs run: in this process, in worker processes, or as tasks on a Ray cluster.

Each kind takes a pair and gives a `Future` of its result; the evaluator keeps
`jobs` pairs in flight and claims each before it starts (`agentlab.eval.claims`).

Worker processes come from a fork server that has imported agentlab once, so a
worker starts in milliseconds, not seconds; each gets the evaluator's
environment and folder, and runs pairs with its own interpreter, so `-j 2` uses
two cores. A Ray task may run on a machine that shares no folder with the
evaluator: it gets the pair's cassette as bytes, writes the run into a scratch
folder, and sends back every file the run wrote, which the evaluator puts in
its output (and record) folder.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from agentlab.errors import ConfigError
from agentlab.eval.pairs import Pair, PairResult, PairRunner, cassette_path
from agentlab.paths import contained
from agentlab.private_files import write_private_bytes

PRELOAD = ["agentlab.eval.warm"]
"""Imported once by the fork server (it runs a replayed pair), so workers start warm."""


class Workers(Protocol):
    """Runs pairs; `submit` returns at once (or after the run, in this process)."""

    def submit(self, pair: Pair) -> Future[PairResult]: ...

    def close(self) -> None: ...


class InlineWorkers:
    """One pair at a time on the calling thread, so Ctrl-C stops the run in flight."""

    def __init__(self, runner: PairRunner) -> None:
        self.runner = runner

    def submit(self, pair: Pair) -> Future[PairResult]:
        future: Future[PairResult] = Future()
        future.set_result(self.runner.run(pair))
        return future

    def close(self) -> None:
        pass


_worker_runner: PairRunner | None = None


def _start_worker(runner: PairRunner, environ: dict[str, str], folder: str) -> None:
    global _worker_runner
    # The fork server started with the environment of its first pool; later pools
    # (and settings changed since) must see the evaluator's as it is now.
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(folder)
    _worker_runner = runner


def _run_in_worker(pair: Pair) -> PairResult:
    if _worker_runner is None:
        raise RuntimeError("worker started without its runner")
    return _worker_runner.run(pair)


class ProcessWorkers:
    """`jobs` worker processes forked from a fork server that has agentlab imported."""

    def __init__(self, runner: PairRunner, jobs: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self._pool = ProcessPoolExecutor(
            jobs,
            mp_context=context,
            initializer=_start_worker,
            initargs=(runner, dict(os.environ), os.getcwd()),
        )

    def submit(self, pair: Pair) -> Future[PairResult]:
        return self._pool.submit(_run_in_worker, pair)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class ShippedRun:
    """A pair's result and the files its run wrote, relative to its output folder."""

    result: PairResult
    files: dict[str, bytes]
    recorded: bytes | None


def run_shipped(runner: PairRunner, pair: Pair, cassette: bytes | None) -> ShippedRun:
    """Run a pair in a scratch folder (on a Ray node) and return what it wrote."""
    with tempfile.TemporaryDirectory(prefix="agentlab-pair-") as scratch:
        root = Path(scratch)
        out = root / "out"
        replayed = None
        if cassette is not None:
            replayed = root / "cassette.jsonl"
            replayed.write_bytes(cassette)
        record = root / "record.jsonl" if runner.settings.record_dir is not None else None
        result = runner.run(pair, out_dir=out, cassette=replayed, record=record)
        files = {
            path.relative_to(out).as_posix(): path.read_bytes()
            for path in sorted(out.rglob("*"))
            if path.is_file()
        }
        recorded = record.read_bytes() if record is not None and record.is_file() else None
    return ShippedRun(result, files, recorded)


class RayWorkers:
    """Pairs as Ray tasks on a cluster: `auto`, `local` (started here) or an address."""

    def __init__(self, runner: PairRunner, address: str, jobs: int) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--ray needs the ray extra: pip install 'agentlab[ray]'") from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            options: dict[str, Any] = {"address": address, "include_dashboard": False}
            if address == "local":
                options["num_cpus"] = jobs
            try:
                ray.init(**options, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(f"cannot reach the Ray cluster {address!r}: {exc}") from None
        self.runner = runner
        self._runner_ref = ray.put(runner)
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_shipped)

    def cpus(self) -> int:
        """The cluster's CPUs: how many pairs to keep in flight by default."""
        resources: dict[str, float] = self._ray.cluster_resources()  # type: ignore[no-untyped-call]
        return max(1, int(resources.get("CPU", 1)))

    def submit(self, pair: Pair) -> Future[PairResult]:
        source = self.runner.cassette(pair)
        cassette = source.read_bytes() if source is not None else None
        shipped: Future[ShippedRun] = self._remote.remote(self._runner_ref, pair, cassette).future()
        landed: Future[PairResult] = Future()

        def land(done: Future[ShippedRun]) -> None:
            try:
                landed.set_result(self._land(pair, done.result()))
            except BaseException as exc:  # the evaluator sees it when it asks for the result
                landed.set_exception(exc)

        shipped.add_done_callback(land)
        return landed

    def _land(self, pair: Pair, shipped: ShippedRun) -> PairResult:
        """Write the run's files into the output (and record) folder; the result points there."""
        settings = self.runner.settings
        trace = None
        for name, data in shipped.files.items():
            # Names come from another machine: each must stay inside the output folder.
            target = contained(settings.out_dir, *Path(name).parts)
            write_private_bytes(target, data)
            if shipped.result.trace is not None and name == Path(shipped.result.trace).name:
                trace = str(target)
        if shipped.recorded is not None and settings.record_dir is not None:
            write_private_bytes(
                cassette_path(settings.record_dir, pair.variant, pair.task.id), shipped.recorded
            )
        return replace(shipped.result, trace=trace)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
