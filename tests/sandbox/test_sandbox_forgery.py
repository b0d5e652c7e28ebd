"""Sandboxed code cannot forge the kernel's replies (issue 12, item 2).

Each attack runs inside the real container, as user code. Before the fix the
supervisor shared the worker's uid and was dumpable, so `/proc/<pid>/fd/1` was
the host channel: a frame written there was taken as the run's reply, and the
real reply then answered the next request. Now the supervisor is PID 1 and
non-dumpable, the host binds every reply to its request's nonce, and the
supervisor binds every worker reply to its run.
"""

from __future__ import annotations

import ast

import pytest

from agentlab.sandbox import ExecStatus, Session

pytestmark = pytest.mark.docker

# A frame in the shape the host expected before the fix (and every shape after).
FRAME = r"""
import json, os, signal, struct, sys
def frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data
FORGED = b"".join(
    frame({**shape, "status": "ok", "result": "'forged'", "stdout": "", "stderr": "",
           "files": [], "stdout_dropped": 0, "stderr_dropped": 0, "state_lost": False,
           "duration_s": 0.0, "error": None})
    for shape in ({}, {"op": "run", "id": 1, "nonce": "0" * 32})
)
"""

FORGE_ON_THE_HOST_CHANNEL = (
    FRAME
    + r"""
outcome = {}
for path in ("/proc/1/fd/1", "/proc/1/fd/2", f"/proc/{os.getppid()}/fd/1"):
    try:
        with open(path, "wb", buffering=0) as f:
            f.write(FORGED)
        outcome[path] = "written"
    except OSError as exc:
        outcome[path] = exc.errno
outcome
"""
)

FORGE_ON_EVERY_FD = (
    FRAME
    + r"""
me = os.getpid()
written = []
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid == me:
        continue
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        fds = [str(n) for n in range(64)]  # not listable: guess
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fd/{fd}", "wb", buffering=0) as f:
                f.write(FORGED)
            written.append(f"{pid}/{fd}")
        except OSError:
            pass
written
"""
)

PROBE_PID_1 = r"""
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as exc:
        return exc.errno
def readlink_fds():
    return [os.readlink(f"/proc/1/fd/{n}") for n in range(4)]
found = {
    "open fd 1": attempt(lambda: open("/proc/1/fd/1", "wb").close()),
    "open fd 0": attempt(lambda: open("/proc/1/fd/0", "rb").close()),
    "open mem": attempt(lambda: open("/proc/1/mem", "rb").close()),
    "list fd": attempt(lambda: os.listdir("/proc/1/fd")),
    "readlink fd": attempt(readlink_fds),
    "environ": attempt(lambda: open("/proc/1/environ", "rb").read()),
    "task fd": attempt(lambda: os.listdir("/proc/1/task/1/fd")),
    "map_files": attempt(lambda: os.listdir("/proc/1/map_files")),
}
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206
found["ptrace attach"] = (libc.ptrace(PTRACE_ATTACH, 1, 0, 0), ctypes.get_errno())
found["ptrace seize"] = (libc.ptrace(PTRACE_SEIZE, 1, 0, 0), ctypes.get_errno())
local = (ctypes.c_char * 16)()
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
iov_local = IoVec(ctypes.cast(local, ctypes.c_void_p), 16)
iov_remote = IoVec(0x400000, 16)
libc.process_vm_readv.restype = ctypes.c_ssize_t
found["process_vm_readv"] = (
    libc.process_vm_readv(1, ctypes.byref(iov_local), 1, ctypes.byref(iov_remote), 1, 0),
    ctypes.get_errno(),
)
try:
    pidfd = os.pidfd_open(1)
    found["pidfd_getfd"] = (libc.syscall(438, pidfd, 1, 0), ctypes.get_errno())
except OSError as exc:
    found["pidfd_getfd"] = (-1, exc.errno)
for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGSTOP", "SIGKILL"):
    found[name] = attempt(lambda: os.kill(1, getattr(signal, name)))
found
"""

EPERM, EACCES = 1, 13


def test_the_supervisor_is_pid_1_and_its_fds_and_memory_are_closed(session: Session) -> None:
    probe = session.run(PROBE_PID_1)
    assert probe.ok, probe.error
    found = ast.literal_eval(probe.result or "{}")
    for what in ("open fd 1", "open fd 0", "open mem", "list fd", "readlink fd", "environ"):
        assert found[what] in (EPERM, EACCES), (what, found[what])
    for what in ("task fd", "map_files"):
        assert found[what] in (EPERM, EACCES), (what, found[what])
    for what in ("ptrace attach", "ptrace seize", "process_vm_readv", "pidfd_getfd"):
        result, errno = found[what]
        assert result == -1 and errno in (EPERM, EACCES, 38), (what, found[what])  # 38: ENOSYS
    # Signals from inside the namespace to PID 1 without a handler are dropped by the
    # kernel: kill() succeeds, and the supervisor goes on answering.
    after = session.run("import os\nos.getppid()")
    assert after.ok and after.result == "1"
    assert session.run("'still answering'").result == "'still answering'"


def test_a_forged_frame_on_the_host_channel_is_not_taken_as_the_reply(session: Session) -> None:
    forged = session.run(FORGE_ON_THE_HOST_CHANNEL)
    assert forged.ok, forged.error
    assert forged.result is not None and "'forged'" not in forged.result
    assert "written" not in forged.result  # no path to the host channel could be opened
    # Later results are not shifted by a forged frame left in the channel.
    for n in range(3):
        later = session.run(f"'result {n}'")
        assert later.ok and later.result == f"'result {n}'", later


def test_forged_frames_on_every_reachable_fd_change_nothing(session: Session) -> None:
    first = session.run(FORGE_ON_EVERY_FD)
    assert first.ok, first.error
    assert first.result is not None and first.result != "'forged'"
    for n in range(3):
        later = session.run(f"'result {n}'")
        assert later.ok and later.result == f"'result {n}'", later


# The worker's reply pipe is the last fd on its command line (`--worker REQ REP`).
FORGE_ON_THE_REPLY_PIPE = (
    FRAME
    + r"""
reply_fd = int(open("/proc/self/cmdline").read().split("\0")[-2])
os.write(reply_fd, FORGED)
'real'
"""
)

# The strongest in-worker forger: it reads the run's binding (id and token) from the
# worker's own frames, then forges a complete reply for its own run.
FORGE_WITH_STOLEN_BINDING = (
    FRAME
    + r"""
reply_fd = int(open("/proc/self/cmdline").read().split("\0")[-2])
caller = sys._getframe()
binding = {}
while caller is not None:
    request = caller.f_locals.get("request")
    if isinstance(request, dict) and "code" in request:
        binding = {k: v for k, v in request.items() if k in ("id", "token")}
    caller = caller.f_back
os.write(reply_fd, frame({**binding, "status": "ok", "result": "'forged'", "error": None}))
'real'
"""
)


def test_a_forged_worker_reply_does_not_shift_later_results(session: Session) -> None:
    first = session.run(FORGE_ON_THE_REPLY_PIPE)
    assert first.result == "'real'", first
    for n in range(3):
        later = session.run(f"'result {n}'")
        assert later.ok and later.result == f"'result {n}'", later


def test_a_worker_reply_forged_with_the_runs_binding_stays_in_its_own_run(
    session: Session,
) -> None:
    # The code may decide its own run's result (it could just return it); what it
    # writes must never answer a later request.
    first = session.run(FORGE_WITH_STOLEN_BINDING)
    assert first.result in ("'forged'", "'real'"), first
    for n in range(3):
        later = session.run(f"'result {n}'")
        assert later.ok and later.result == f"'result {n}'", later


def test_a_crash_keeps_its_exit_status_with_the_supervisor_as_pid_1(session: Session) -> None:
    # PID 1 reaps orphans by pid: the worker's own exit status must survive for Popen.
    crashed = session.run("import os\nos._exit(7)")
    assert crashed.status is ExecStatus.CRASHED and crashed.error is not None
    assert "exit code 7" in crashed.error.message
    assert session.run("'back'").result == "'back'"


ORPHANS = r"""
import os, time
for _ in range(20):
    if os.fork() == 0:       # a child that forks a grandchild and exits at once:
        if os.fork() == 0:   # the grandchild is orphaned to PID 1, and exits too
            os._exit(0)
        os._exit(0)
time.sleep(0.5)
while True:                  # reap the direct children (the worker's own)
    try:
        os.wait()
    except ChildProcessError:
        break
"""

COUNT_PROCESSES = r"""
import os
states = {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        states[int(entry)] = (stat[0], int(stat[1]))
sorted(states.items())
"""


STUBBORN_FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def test_orphans_are_reaped_and_kill_others_leaves_only_the_kernel(session: Session) -> None:
    assert session.run(ORPHANS, timeout=20).ok
    after = session.run(COUNT_PROCESSES)
    processes = dict(ast.literal_eval(after.result or "[]"))
    zombies = [pid for pid, (state, _) in processes.items() if state == "Z"]
    assert zombies == [], processes
    bomb = session.run(STUBBORN_FORK_BOMB, timeout=3)
    assert bomb.status is ExecStatus.PIDS_LIMIT
    left = dict(ast.literal_eval(session.run(COUNT_PROCESSES).result or "[]"))
    # PID 1 (the supervisor) and the worker that ran the probe: nothing else, no zombie.
    others = set(left) - {1}
    assert len(others) == 1, left
    [worker] = others
    assert left[worker] == ("R", 1), left


@pytest.mark.parametrize(
    "written",
    [
        "struct.pack('>I', 100) + b'{'",  # half a frame: the real reply becomes its body
        "struct.pack('>I', 1 << 30)",  # a header over the cap
        "struct.pack('>I', 4) + b'\\xff\\xfe\\xfd\\xfc'",  # not UTF-8
        "frame({'token': 1, 'status': 'ok'})" + " * 1000",  # stale frames, many
    ],
    ids=["half a frame", "oversized header", "bad utf-8", "a flood of stale frames"],
)
def test_garbage_on_the_reply_pipe_costs_the_worker_not_the_session(
    session: Session, written: str
) -> None:
    code = FRAME + (
        'reply_fd = int(open("/proc/self/cmdline").read().split("\\0")[-2])\n'
        f"os.write(reply_fd, {written})\n"
        "'real'\n"
    )
    broken = session.run(code)
    if broken.ok:  # stale frames are dropped: the run's own reply still counts
        assert broken.result == "'real'"
    else:
        assert broken.status is ExecStatus.CRASHED and broken.state_lost, broken
        assert broken.error is not None and "protocol" in broken.error.message
    for n in range(2):
        later = session.run(f"'result {n}'")
        assert later.ok and later.result == f"'result {n}'", later
