"""Local build vs Ray build on the same corpus and the same cores: items/s and Ray's overhead.

The corpus is standard-library docstring paragraphs written as text files (real prose, no
download). Both builds embed with nyx-lite on CPU and commit a FAISS generation; the Ray build
runs one encoder actor holding the same number of cores as the local process uses, on a local
Ray started before the clock (a cluster is already running when a build is submitted to it).
The Ray time is also reported with Ray's start-up included.

    python -m nyx.benchmarks.ray_build --docs 2000 --workers 1 --cpus 2
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from nyx.benchmarks.qdrant_hybrid import docstring_corpus
from nyx.builder import BuildOptions, build_index

logger = logging.getLogger(__name__)


def write_corpus(folder: Path, n_docs: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    items = docstring_corpus(n_docs)
    for n in range(n_docs):  # past the ~1,500 paragraphs, numbered copies (new content)
        copy, item = divmod(n, len(items))
        text = items[item].text if copy == 0 else f"({copy}) {items[item].text}"
        (folder / f"p{n:06d}.txt").write_text(text)
    return n_docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpus", type=int, default=2, help="cores for each build")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("nyx.ray_build").setLevel(logging.INFO)  # Ray phase vs commit times
    import ray
    import torch

    from nyx import load_encoder
    from nyx.ray_build import RayOptions, build_index_ray

    torch.set_num_threads(args.cpus)
    work = Path(tempfile.mkdtemp(prefix="nyx-ray-bench-"))
    local_s: list[float] = []
    ray_s: list[float] = []
    try:
        n = write_corpus(work / "corpus", args.docs)
        encoder = load_encoder("nyx-lite")  # loaded before the clock, as the actor's is not
        options = BuildOptions(model=encoder, show_progress=False)
        start = time.perf_counter()
        repo = str(Path(__file__).resolve().parents[1])
        ray.init(address="local", num_cpus=args.cpus * args.workers, include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": repo}})
        ray_start_s = time.perf_counter() - start
        for run in range(args.repeats):  # alternate, so that a busy spell hits both
            start = time.perf_counter()
            local = build_index(work / "corpus", work / f"local{run}", options)
            local_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            on_ray = build_index_ray(work / "corpus", work / f"ray{run}", options,
                                     RayOptions(workers=args.workers, num_cpus=args.cpus,
                                                parse_cpus=0))
            ray_s.append(time.perf_counter() - start)
            assert on_ray.documents == local.documents, (on_ray.documents, local.documents)
        n = local.documents  # items: a long paragraph is two
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best_local, best_ray = min(local_s), min(ray_s)
    overhead = best_ray / best_local - 1
    runs = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(local_s, ray_s))
    lines = [
        f"Build of {n} items (docstring paragraphs; nyx-lite, CPU, FAISS), {args.cpus} cores "
        f"per build, {args.workers} Ray encoder actor(s), {os.cpu_count()} cores on the machine; "
        f"best of {args.repeats} alternating runs (local/Ray seconds: {runs})",
        "", "| build | seconds | items/s |", "|---|---|---|",
        f"| local (`build_index`) | {best_local:.1f} | {n / best_local:.1f} |",
        f"| Ray (`build_index_ray`), cluster running | {best_ray:.1f} | {n / best_ray:.1f} |",
        f"| Ray, with `ray.init` ({ray_start_s:.1f} s) | {best_ray + ray_start_s:.1f} | "
        f"{n / (best_ray + ray_start_s):.1f} |",
        "", f"Ray overhead with a running cluster: {overhead:+.1%}",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
