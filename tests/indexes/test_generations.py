from __future__ import annotations

import json
import os
import signal

import pytest

from nyx.indexes import IndexDirectory, atomic_write_bytes, atomic_write_json, atomic_write_text

from .conftest import run_python


def commit_files(directory: IndexDirectory, files: dict[str, str], **begin_kwargs):
    staging = directory.begin(**begin_kwargs)
    for name, text in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(staging / name, text)
    return directory.commit(staging)


def test_commit_switches_current_and_keeps_one_previous(tmp_path):
    directory = IndexDirectory(tmp_path / "idx")
    assert directory.current() is None and directory.generations() == []
    first = commit_files(directory, {"data.txt": "one"})
    assert directory.current() == first and first.name == "gen-000001"
    assert (tmp_path / "idx" / "CURRENT").read_text().strip() == "gen-000001"
    second = commit_files(directory, {"data.txt": "two"})
    assert directory.current() == second
    assert directory.generations() == [first, second]  # previous kept for open readers
    third = commit_files(directory, {"data.txt": "three"})
    assert directory.generations() == [second, third]
    assert (directory.current() / "data.txt").read_text() == "three"


def test_begin_copies_or_links_current_files(tmp_path):
    directory = IndexDirectory(tmp_path)
    live = commit_files(directory, {"vectors.bin": "V" * 100, "sub/meta.json": "{}"})
    staging = directory.begin(link=["vectors.bin"])
    assert (staging / "sub" / "meta.json").read_text() == "{}"
    linked = (staging / "vectors.bin").stat()
    assert linked.st_ino == (live / "vectors.bin").stat().st_ino  # hard link, no copy
    assert (staging / "sub/meta.json").stat().st_ino != (live / "sub/meta.json").stat().st_ino
    # Replacing (not modifying) the linked file leaves the live generation untouched.
    atomic_write_text(staging / "vectors.bin", "new")
    assert (live / "vectors.bin").read_text() == "V" * 100
    fresh = directory.begin(copy_current=False)
    assert list(fresh.iterdir()) == []
    directory.abort(fresh)
    assert not fresh.exists()


def test_commit_removes_abandoned_staging(tmp_path):
    directory = IndexDirectory(tmp_path)
    commit_files(directory, {"a": "1"})
    abandoned = directory.begin()
    (abandoned / "half-written").write_text("partial")
    newest = commit_files(directory, {"a": "2"})
    assert not abandoned.exists() and directory.current() == newest


def test_commit_rejects_foreign_or_live_paths(tmp_path):
    directory = IndexDirectory(tmp_path / "idx")
    live = commit_files(directory, {"a": "1"})
    with pytest.raises(ValueError, match="already the live generation"):
        directory.commit(live)
    with pytest.raises(ValueError, match="not a staging generation"):
        directory.commit(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="live generation"):
        directory.abort(live)
    (tmp_path / "idx" / "CURRENT").write_text("garbage")
    with pytest.raises(ValueError, match="not a generation name"):
        directory.current()


WRITER = """
import sys
from nyx.indexes import IndexDirectory
directory = IndexDirectory(sys.argv[1])
lock = directory.lock().acquire()
staging = directory.begin()
with open(staging / "data.txt", "w") as handle:
    handle.write("NEW" * 1000)
    handle.flush()
    print(staging, flush=True)
    while True:  # killed mid-write, before commit
        handle.write("more")
"""


def test_writer_killed_mid_write_leaves_previous_generation_readable(tmp_path):
    directory = IndexDirectory(tmp_path)
    committed = commit_files(directory, {"data.txt": "OLD" * 1000, "meta.json": '{"n": 1}'})
    child = run_python(WRITER, str(tmp_path))
    staging_line = child.stdout.readline().strip()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert staging_line.endswith("gen-000002")

    reader = IndexDirectory(tmp_path).current()
    assert reader == committed
    assert (reader / "data.txt").read_text() == "OLD" * 1000
    assert json.loads((reader / "meta.json").read_text()) == {"n": 1}

    with directory.lock():  # the killed writer's lock died with it
        newest = commit_files(directory, {"data.txt": "NEXT"})
    assert newest.name == "gen-000003"
    assert not (tmp_path / "gen-000002").exists()  # the abandoned staging was cleaned up
    assert (directory.current() / "data.txt").read_text() == "NEXT"


ATOMIC_WRITER = """
import os, sys
from nyx.indexes import atomic
target = sys.argv[1]
def stall(fd):
    print("about to fsync", flush=True)
    import time; time.sleep(60)
os.fsync = stall
atomic.atomic_write_bytes(target, b"new contents " * 10000)
"""


def test_atomic_write_killed_before_rename_keeps_old_file(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_json(target, {"version": 1})
    child = run_python(ATOMIC_WRITER, str(target))
    assert child.stdout.readline().strip() == "about to fsync"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert json.loads(target.read_text()) == {"version": 1}
    atomic_write_bytes(target, b"{}")
    assert target.read_bytes() == b"{}"


def test_atomic_write_errors_leave_no_temp_files(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "x.json", {"bad": object()})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "missing-dir" / "x.txt", "hi")
    assert os.listdir(tmp_path) == []
