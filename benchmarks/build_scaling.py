"""Peak memory and time of ``nyx-index build`` as the corpus grows (real SQuAD-dev paragraphs).

    python -m nyx.benchmarks.build_scaling --sizes 250,1000,2067

Each size is built from scratch in a fresh process, so peak RSS is that build's own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def write_corpus(folder: Path, n: int) -> None:
    from nyx.benchmarks.datasets import load_dataset

    data = load_dataset("squad-dev")
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, doc in list(data.corpus.items())[:n]:
        (folder / f"{doc_id}.txt").write_text(doc["text"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="250,1000,2067")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            corpus = Path(tmp) / f"c{n}"
            write_corpus(corpus, n)
            out = subprocess.run(
                [sys.executable, "-m", "nyx.cli.index", "build", str(corpus), "-o",
                 str(Path(tmp) / f"i{n}"), "--json"], capture_output=True, text=True, check=True)
            s = json.loads(out.stdout)
            rows.append((n, s["documents"], s["vectors"], s["seconds"], s["peak_memory_mb"]))
    print("| files | documents | vectors | build s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for n, docs, vecs, sec, mem in rows:
        print(f"| {n:,} | {docs:,} | {vecs:,} | {sec:.1f} | {mem:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
