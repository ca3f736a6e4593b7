"""What a user sees when a build is interrupted or a server's port is taken: one line, not a
traceback, and (for the port) before any model loads or URL is printed."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nyx.builder import CACHE_DIR
from tests.nyx.test_builder import options, write_corpus

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_during_a_build_is_one_line_and_the_build_resumes(lite, tmp_path) -> None:
    from nyx.builder import build_index

    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    write_corpus(corpus, 300)
    cmd = [sys.executable, "-m", "nyx.cli.index", "build", str(corpus), "-o", str(out),
           "--shard-size", "8", "--batch-size", "8", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 180
    while time.time() < deadline and len(list((out / CACHE_DIR).glob("shard-*.npz"))) < 2:
        assert proc.poll() is None, "build finished before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("nyx-index build: interrupted; the live generation is unchanged")
    summary = build_index(corpus, out, options(lite))
    assert summary.reused_from_cache >= 16 and summary.documents == 300


def test_a_taken_port_is_one_line_before_anything_loads(tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (tmp_path / "idx").mkdir()
        probe = ("import sys; from nyx.cli.index import main; code = main(sys.argv[1:]); "
                 "print('loaded torch' if 'torch' in sys.modules else 'no torch'); "
                 "raise SystemExit(code)")
        done = subprocess.run([sys.executable, "-c", probe, "serve", str(tmp_path / "idx"),
                               "--port", str(port)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stdout.strip() == "no torch"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], lines
    assert "http://" not in done.stderr
