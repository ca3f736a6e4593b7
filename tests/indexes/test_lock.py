from __future__ import annotations

import os
import signal

import pytest

from nyx.indexes import IndexLock, IndexLockedError

from .conftest import run_python

TRY_LOCK = """
import sys
from nyx.indexes import IndexLock, IndexLockedError
try:
    IndexLock(sys.argv[1]).acquire()
except IndexLockedError as exc:
    print(exc.pid, exc, sep="\\n")
    sys.exit(3)
print("acquired")
"""

HOLD_LOCK = """
import sys, time
from nyx.indexes import IndexLock
lock = IndexLock(sys.argv[1]).acquire()
print("holding", flush=True)
time.sleep(120)
"""


def test_second_process_gets_error_naming_our_pid(tmp_path):
    with IndexLock(tmp_path) as lock:
        assert lock.locked
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
        child = run_python(TRY_LOCK, str(tmp_path))
        out, err = child.communicate(timeout=30)
        assert child.returncode == 3, err
        pid_line, message = out.splitlines()[:2]
        assert int(pid_line) == os.getpid()
        assert f"index at {tmp_path} is locked by PID {os.getpid()}" in message
        assert "wait for that process" in message
    # Released: the next writer gets in.
    child = run_python(TRY_LOCK, str(tmp_path))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0 and out.strip() == "acquired", err


def test_lock_is_freed_when_holder_is_killed(tmp_path):
    holder = run_python(HOLD_LOCK, str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(IndexLockedError) as info:
            IndexLock(tmp_path).acquire()
        assert info.value.pid == holder.pid
        assert f"PID {holder.pid}" in str(info.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with IndexLock(tmp_path) as lock:  # no stale lock after SIGKILL
        assert lock.locked


def test_same_process_second_lock_fails_and_release_is_idempotent(tmp_path):
    first = IndexLock(tmp_path).acquire()
    with pytest.raises(IndexLockedError, match=f"PID {os.getpid()}"):
        IndexLock(tmp_path).acquire()
    first.release()
    first.release()
    assert not first.locked
    assert (tmp_path / ".lock").read_text() == ""
    with IndexLock(tmp_path):
        pass
