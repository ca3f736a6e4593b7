"""Builds embedded on Ray: the same vectors, summary and CLI output as the local build, an encoder
actor SIGKILLed mid-build, and (slow) a real two-node cluster started with ``ray start``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nyx.builder import CACHE_DIR, BuildOptions, BuildSummary, build_index
from nyx.retriever import Retriever
from nyx.verify import verify_index
from tests.nyx.test_builder import write_corpus

ray = pytest.importorskip("ray", reason="pip install 'nyx-retrieval[ray]'")
pytest.importorskip("ray.data")

from nyx.ray_build import RayOptions, build_index_ray  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs) for the module; the actors import this checkout."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield
    ray.shutdown()


def options(lite, **kw) -> BuildOptions:
    return BuildOptions(model=lite, show_progress=False, **kw)


def comparable(summary: BuildSummary) -> dict:
    data = summary.to_dict()
    for key in ("index", "seconds", "peak_memory_mb", "generation"):
        data.pop(key)
    return data


def assert_same_index(a: Path, b: Path) -> None:
    with Retriever.load(a) as ra, Retriever.load(b) as rb:
        ids = ra.index.ids()
        assert ids == rb.index.ids()
        # Equal to float32 rounding: sentence-transformers pads each encoder batch to its
        # longest item, and the actors' batches hold other items than the local shards'
        # (bit-identical when the batches are the same).
        np.testing.assert_allclose(ra.index.get_vectors(ids), rb.index.get_vectors(ids),
                                   rtol=0, atol=1e-6)
        for query in ("honey from bees", "what do owls hunt", "word17 word18"):
            assert [h.id for h in ra.search(query, k=10)] == [h.id for h in rb.search(query,
                                                                                      k=10)]
        assert ra.store.ids() == rb.store.ids()
        assert ra.lexical.ids() == rb.lexical.ids()


def test_vectors_and_summary_match_the_local_build(lite, local_ray, tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 30)
    (corpus / "long.txt").write_text(" ".join(f"word{i}" for i in range(900)))  # chunked
    (corpus / "empty.txt").write_text("")
    local = build_index(corpus, tmp_path / "local", options(lite))
    on_ray = build_index_ray(corpus, tmp_path / "ray", options(lite, shard_size=8),
                             RayOptions(workers=2, num_cpus=0.5))
    assert comparable(on_ray) == comparable(local)
    assert on_ray.embedded == local.embedded == 36  # long.txt is six items
    assert on_ray.reused_from_cache == 0
    assert_same_index(tmp_path / "local", tmp_path / "ray")
    assert not (tmp_path / "ray" / CACHE_DIR).exists()

    # An update embeds only the changed file, on Ray as locally.
    (corpus / "doc003.txt").write_text("Narwhals have a single long tusk.")
    again = build_index_ray(corpus, tmp_path / "ray", options(lite), RayOptions())
    assert again.updated == ["doc003.txt"] and again.embedded == 1
    assert build_index_ray(corpus, tmp_path / "ray", options(lite)).embedded == 0


def test_cli_summary_is_the_same_as_the_local_one(lite, local_ray, tmp_path, capsys):
    from nyx.cli.index import main

    corpus = tmp_path / "corpus"
    write_corpus(corpus, 12)
    outputs = []
    on_ray = ["--ray", "--ray-workers", "2", "--ray-cpus", "0.5"]
    for extra in ([], on_ray):
        assert main(["build", str(corpus), "-o", str(tmp_path / "idx"), *extra]) == 0
        lines = capsys.readouterr().out.splitlines()
        outputs.append([line for line in lines if " s, peak memory" not in line])
        shutil.rmtree(tmp_path / "idx")  # the next build starts from nothing again
    assert outputs[0] == outputs[1]
    assert "embedded 12 (reused 0" in "\n".join(outputs[1])


def test_the_writer_takes_the_ray_scan_and_hashes_no_file_again(lite, local_ray, tmp_path,
                                                                 monkeypatch):
    import nyx.builder
    import nyx.ray_build
    from nyx.corpus import SourceFile, scan_corpus

    corpus, out = tmp_path / "corpus", tmp_path / "ray"
    write_corpus(corpus, 5)
    build_index(corpus, out, options(lite))
    (corpus / "doc001.txt").write_text("Narwhals have a single long tusk.")
    (corpus / "new.txt").write_text("Axolotls regrow their limbs.")
    scans, hashed = [], Counter()
    real_hash = SourceFile.compute_hash

    def scan(*args, **kwargs):
        scans.append(args)
        return scan_corpus(*args, **kwargs)

    def compute_hash(self):
        hashed[self.rel] += 1
        return real_hash(self)

    for module in (nyx.builder, nyx.ray_build):
        monkeypatch.setattr(module, "scan_corpus", scan)
    monkeypatch.setattr(SourceFile, "compute_hash", compute_hash)

    summary = build_index_ray(corpus, out, options(lite), RayOptions())

    assert (summary.updated, summary.added, summary.unchanged) == (["doc001.txt"], ["new.txt"], 4)
    assert summary.embedded == 2 and summary.reused_from_cache == 0
    assert len(scans) == 1  # the writer takes the Ray driver's scan
    assert hashed == {f"doc{i:03d}.txt": 1 for i in range(5)} | {"new.txt": 1}


def test_an_encoder_actor_killed_mid_build_loses_and_duplicates_nothing(lite, local_ray,
                                                                        tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 160)
    build_index(corpus, tmp_path / "local", options(lite))
    out = tmp_path / "ray"
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["summary"] = build_index_ray(corpus, out, options(lite, shard_size=4,
                                                                     batch_size=4),
                                                RayOptions(workers=1))
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    victim = None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        shards = sorted((out / CACHE_DIR).glob("shard-*.npz"))
        if shards:
            victim = int(shards[0].stem.split("-")[2])  # shard-NODE-PID-ACTOR-N
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert victim is not None, "no shard was written before the build finished"
    assert "error" not in result, result.get("error")
    summary = result["summary"]
    assert isinstance(summary, BuildSummary)
    assert summary.documents == 160 and summary.vectors == 160 and not summary.skipped
    assert summary.embedded == 160
    assert_same_index(tmp_path / "local", out)
    assert verify_index(out).ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_two_node_cluster_started_with_ray_start(lite, tmp_path):
    """Head and worker are separate ``ray start --block`` processes (the real multi-node
    protocol on one host); the build runs as a separate CLI process against the head."""
    if ray.is_initialized():
        ray.shutdown()
    ray_bin = Path(sys.executable).with_name("ray")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # A throwaway loopback cluster: no token (Ray 2.5x enables token auth on `ray start`).
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    nodes = [subprocess.Popen([str(ray_bin), "start", "--head", "--port", str(port),
                               "--include-dashboard=false", *common], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        _wait_for_nodes(address, 1, env)
        nodes.append(subprocess.Popen([str(ray_bin), "start", "--address", address, *common],
                                      env=env,
                                      start_new_session=True, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait_for_nodes(address, 2, env)
        corpus = tmp_path / "corpus"
        write_corpus(corpus, 40)
        build_index(corpus, tmp_path / "local", options(lite))
        done = subprocess.run([sys.executable, "-m", "nyx.cli.index", "-v", "build", str(corpus),
                               "-o", str(tmp_path / "ray"), "--ray", address,
                               "--ray-workers", "2", "--ray-cpus", "0.75", "--shard-size", "2"],
                              env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "40 documents, 40 vectors; embedded 40" in done.stdout
        assert_same_index(tmp_path / "local", tmp_path / "ray")
        # 0.75 CPU per actor on 1-CPU nodes puts one encoder actor on each node; whether the
        # second is up before the first has embedded everything is Ray's timing, not asserted.
        report = [line for line in done.stderr.splitlines() if "Ray embedded 40 items" in line]
        assert report and ("on 1 node(s)" in report[0] or "on 2 node(s)" in report[0]), report
        print(report[0])
    finally:
        for node in reversed(nodes):  # SIGTERM to the process groups this test started
            try:
                os.killpg(node.pid, signal.SIGTERM)
                node.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(node.pid, signal.SIGKILL)


def _wait_for_nodes(address: str, n: int, env: dict[str, str]) -> None:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(1 for node in ray.nodes() if node['Alive']))")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        probe = subprocess.run([sys.executable, "-c", code, address], env=env,
                               capture_output=True, text=True, timeout=120)
        if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise TimeoutError(f"Ray cluster at {address} did not reach {n} nodes")
