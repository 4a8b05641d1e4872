"""config.processes.stop leaves no orphans, even when the group's leader died first."""

from __future__ import annotations

import os
import signal
import time

from config import processes


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purpose
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_stop_kills_the_group_after_its_leader_was_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    # a leader with a child that ignores SIGTERM, like a worker's pool or beat process would
    # outlive a SIGKILLed worker
    script = f"(trap '' TERM; sleep 300) & echo $! > {pid_file}; wait"
    leader = processes._spawn(["sh", "-c", script], dict(os.environ), tmp_path / "log")
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait(5)
    assert alive(child), "the child outlives its leader (the situation under test)"

    processes.stop(leader, timeout=1)

    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "stop() left an orphan"
