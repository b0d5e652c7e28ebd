"""Claims on eval pairs: files beside the traces, and rows in a live Postgres table.

Whoever claims a pair runs it; a claim ends done (never run again while its
trace says pass/fail) or released (run again); a claim whose holder stopped
renewing for a lease, or died on this host, is taken over by exactly one
evaluator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from postgres_server import PostgresServer
from test_eval_harness import SUITE, cassettes

from agentlab.errors import ConfigError
from agentlab.eval import EvalSettings, Evaluation
from agentlab.eval.claims import ClaimStore, FileClaims, PostgresClaims

KEY = ("add", "full")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["files", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., ClaimStore]]:
    """Makes claim stores that share one study: files in one folder, or one Postgres table."""
    made: list[ClaimStore] = []
    url = request.getfixturevalue("postgres").database() if request.param == "postgres" else ""

    def make(lease_s: float = 60.0) -> ClaimStore:
        store: ClaimStore = (
            PostgresClaims(url, "study", lease_s=lease_s)
            if url
            else FileClaims(tmp_path / "runs", lease_s=lease_s)
        )
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def test_a_held_claim_keeps_others_out_until_it_is_released(
    stores: Callable[..., ClaimStore],
) -> None:
    first, second = stores(), stores()
    claim = first.claim(KEY)
    assert claim is not None and claim.generation == 0
    assert second.claim(KEY) is None and first.claim(KEY) is None
    first.end(claim, done=False, trace=None)
    again = second.claim(KEY)
    assert again is not None and again.generation == 1


def test_a_claim_not_renewed_for_a_lease_is_taken_over(
    stores: Callable[..., ClaimStore],
) -> None:
    holder, other = stores(lease_s=1.0), stores(lease_s=1.0)
    claim = holder.claim(KEY)
    assert claim is not None
    time.sleep(0.6)
    holder.renew([claim])
    time.sleep(0.6)
    assert other.claim(KEY) is None  # renewed 0.6 s ago: still held
    time.sleep(1.2)
    taken = other.claim(KEY)
    assert taken is not None and taken.generation == 1
    assert holder.claim(KEY) is None


def test_a_claim_whose_holder_died_on_this_host_is_taken_over_at_once(
    stores: Callable[..., ClaimStore],
) -> None:
    holder, other = stores(), stores()
    holder.owner = holder.owner.replace(f":{os.getpid()}:", f":{dead_pid()}:")  # type: ignore[attr-defined]
    assert holder.claim(KEY) is not None
    taken = other.claim(KEY)
    assert taken is not None and taken.generation == 1


CLAIMER = """
import json, sys, time
from pathlib import Path
from agentlab.eval.claims import FileClaims, PostgresClaims

target, go = sys.argv[1], Path(sys.argv[2])
store = PostgresClaims(target, "study") if "://" in target else FileClaims(Path(target))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
for i in range(40):
    if store.claim((f"t{i}", "full")) is not None:
        print(json.dumps(f"t{i}"), flush=True)
store.close()
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["files", "postgres"])
def test_eight_evaluators_at_once_claim_each_pair_exactly_once(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Eight processes claim the same 40 pairs, started together."""
    target = request.getfixturevalue("postgres").database() if kind == "postgres" else ""
    target = target or str(tmp_path / "runs")
    go = tmp_path / "go"
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, target, str(go)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(8)
    ]
    for claimer in claimers:
        assert claimer.stdout is not None and claimer.stdout.readline() == "ready\n"
    go.touch()
    claimed = []
    for claimer in claimers:
        out, _ = claimer.communicate(timeout=120)
        assert claimer.returncode == 0
        claimed += [json.loads(line) for line in out.splitlines()]
    assert sorted(claimed) == sorted(f"t{i}" for i in range(40))


def test_a_done_claim_holds_while_its_trace_says_graded(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", ("full",))
    settings = EvalSettings(
        variants=("full",), out_dir=tmp_path / "runs", model=f"replay:{tmp_path / 'cassettes'}"
    )
    results = Evaluation(SUITE, settings).run()
    store = FileClaims(tmp_path / "runs")
    assert all(store.claim((r.task_id, "full")) is None for r in results)
    trace = Path(next(r.trace for r in results if r.task_id == "pow"))
    trace.unlink()  # deleting a trace re-runs its pair
    assert store.claim(("pow", "full")) is not None
    assert store.claim(("add", "full")) is None


def test_evaluations_on_other_machines_resume_from_the_postgres_claims(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """Two output folders (two machines) and one claims table: the second evaluation runs
    only the pairs the first did not finish."""
    url = postgres.database()
    variants = ("full", "no-reflection")
    cassettes(tmp_path / "cassettes", variants)

    def evaluation(out: str, chosen: tuple[str, ...]) -> Evaluation:
        return Evaluation(
            SUITE,
            EvalSettings(
                variants=chosen,
                out_dir=tmp_path / out,
                model=f"replay:{tmp_path / 'cassettes'}",
                claims=url,
                study="mini",
            ),
        )

    first = evaluation("machine-a", ("full",)).run()
    assert sorted(r.task_id for r in first) == ["add", "pow", "sub"]
    other = evaluation("machine-b", variants)
    assert sorted(p.key for p in other.pending()) == [
        ("add", "no-reflection"),
        ("pow", "no-reflection"),
        ("sub", "no-reflection"),
    ]
    second = other.run()
    assert sorted((r.task_id, r.variant) for r in second) == sorted(
        p.key for p in evaluation("machine-a", variants).pairs() if p.variant == "no-reflection"
    )
    assert evaluation("machine-c", variants).pending() == []


def test_bad_claim_settings_are_usage_errors(tmp_path: Path) -> None:
    cassettes(tmp_path / "cassettes", ("full",))
    model = f"replay:{tmp_path / 'cassettes'}"
    with pytest.raises(ConfigError, match="claims go to a postgresql:// URL"):
        Evaluation(SUITE, EvalSettings(out_dir=tmp_path, model=model, claims="sqlite:///x.db"))
    with pytest.raises(ConfigError, match="the claim lease must be positive"):
        Evaluation(SUITE, EvalSettings(out_dir=tmp_path, model=model, claim_lease_s=0))
    unreachable = Evaluation(
        SUITE,
        EvalSettings(out_dir=tmp_path, model=model, claims="postgresql://nobody@127.0.0.1:9/x"),
    )
    with pytest.raises(ConfigError, match="cannot reach the claims database"):
        unreachable.pending()


def test_a_claim_is_never_an_empty_file_and_leaves_no_scratch(tmp_path: Path) -> None:
    # A holder killed between creating its claim and writing it used to leave an empty
    # file that kept the pair from running for a whole lease (a resumed eval skipped it).
    store = FileClaims(tmp_path / "runs")
    assert store.claim(KEY) is not None
    files = list((tmp_path / "runs" / "claims").iterdir())
    assert len(files) == 1 and not files[0].name.startswith(".")
    assert json.loads(files[0].read_text())["state"] == "running"
    assert store.claim(KEY) is None  # the name exists: link fails as O_EXCL did
    assert len(list((tmp_path / "runs" / "claims").iterdir())) == 1
    store.close()


def test_an_empty_claim_left_by_an_older_holder_waits_for_its_lease(tmp_path: Path) -> None:
    store = FileClaims(tmp_path / "runs", lease_s=60.0)
    assert store.claim(KEY) is not None
    (claim,) = (tmp_path / "runs" / "claims").iterdir()
    claim.write_text("")
    assert store.claim(KEY) is None
    old = time.time() - 120
    os.utime(claim, (old, old))
    taken = store.claim(KEY)
    assert taken is not None and taken.generation == 1
    store.close()
