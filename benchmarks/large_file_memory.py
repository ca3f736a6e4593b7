"""Peak memory of ``nyx-index build`` for one large file: 1 MB against 50 MB, per format.

    OMP_NUM_THREADS=1 python -m nyx.benchmarks.large_file_memory --sizes-mb 1,50 --model hashing
    OMP_NUM_THREADS=1 python -m nyx.benchmarks.large_file_memory --sizes-mb 1,50   # nyx-lite: slow
    python -m nyx.benchmarks.large_file_memory --sizes-mb 50 --model hashing \
        --formats txt,md,html,jsonl,jsonl1   # the same text as .txt, .md, .html, .jsonl

Each file is built from scratch in a fresh process (``build_index``), so the peak RSS printed
is that build's own. ``--model hashing`` replaces MiniLM with a feature-hashing text encoder
(384 dims, no model) so that 50 MB builds in minutes on a CPU: the transformer's memory is per
batch and does not depend on the file's size, while everything else (reading, chunking,
batching, the embedding cache, FAISS, BM25 and the document store) is the real pipeline.
The text is SQuAD-dev paragraphs repeated to the size asked (real English, so chunking and
BM25 see real sentence and vocabulary shapes). A file is read and embedded block by block, and
the build spills new vectors and BM25 documents to disk (``nyx/indexes/spill.py``) until the
save, which builds the FAISS structure once and streams BM25 into its postings files. What
still grows with the file: the FAISS index itself at the save (vectors plus, above 50,000
vectors, the HNSW graph: the same memory a search of the index needs), a few dicts per vector
(ids, metadata), and at the BM25 save its vocabulary and two int32 columns per posting (about
50 MB more at 50 MB of text: ``python -m nyx.benchmarks.bm25_speed --save-memory-mb 50``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from nyx.chunking import chunk_text
from nyx.content import Item
from nyx.encoders.base import Encoder

FORMATS = ("txt", "md", "html", "jsonl", "jsonl1")


def write_text(path: Path, megabytes: float, fmt: str = "txt") -> None:
    """About ``megabytes`` of SQuAD-dev paragraphs as ``fmt``: plain paragraphs, markdown
    (a heading per paragraph), HTML (``<p>`` per paragraph), jsonl (a record per passage: the
    passages the .txt file is cut into, so both make the same vectors) or
    ``jsonl1``: one jsonl record holding it all (over the 16 MB a record may hold: skipped)."""
    from nyx.benchmarks.datasets import load_dataset

    paragraphs = [doc["text"] for doc in load_dataset("squad-dev").corpus.values()]
    target, written, i = int(megabytes * 2**20), 0, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    head, tail = {"html": ("<html><body>\n", "</body></html>\n"),
                  "jsonl1": ('{"id": "all", "text": "', '"}\n')}.get(fmt, ("", ""))
    pending: list[str] = []
    with path.open("w", encoding="utf-8") as f:
        f.write(head)
        while written < target:
            text = f"{paragraphs[i % len(paragraphs)]} (copy {i // len(paragraphs)})"
            if fmt == "jsonl":  # the .txt file's text, cut into records below
                block = f"{text}\n\n"
                pending.append(block)
            else:
                block = {"md": f"## Part {i}\n\n{text}\n\n", "html": f"<p>{text}</p>\n",
                         "jsonl1": json.dumps(text + "\n\n")[1:-1]}.get(fmt, f"{text}\n\n")
            if fmt != "jsonl":
                f.write(block)
            written += len(block.encode())
            i += 1
        # jsonl: a record per passage, the very passages the .txt build makes (same vectors)
        for j, passage in enumerate(chunk_text("".join(pending))):
            f.write(json.dumps({"id": str(j), "text": passage}) + "\n")
        f.write(tail)


class HashingEncoder(Encoder):
    """Feature hashing of lower-cased words into 384 dims: a real, cheap text encoder."""

    name, version, dim = "hashing", "1", 384

    def __init__(self) -> None:
        self.device = "cpu"

    def _encode_batch(self, items: list[Item], *, is_query: bool) -> np.ndarray:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for row, item in enumerate(items):
            for word in item.text.lower().split():
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        out[:, 0] += 1e-3  # never an all-zero row
        return out


def _child(corpus: str, out: str, model: str, progress: str = "0") -> None:
    from nyx.builder import BuildOptions, build_index

    encoder = HashingEncoder() if model == "hashing" else model
    s = build_index(corpus, out, BuildOptions(model=encoder, show_progress=progress == "1"))
    print(json.dumps(s.to_dict()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", default="1,50")
    parser.add_argument("--model", default="nyx-lite", help="nyx-lite or hashing")
    parser.add_argument("--formats", default="txt",
                        help=f"comma-separated, of {', '.join(FORMATS)} (each size in each)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars from the builds (they go to stderr)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            for mb in (float(s) for s in args.sizes_mb.split(",")):
                corpus = Path(tmp) / f"c{mb:g}-{fmt}"
                write_text(corpus / f"big.{fmt.rstrip('1')}", mb, fmt)
                out = subprocess.run(
                    [sys.executable, "-m", "nyx.benchmarks.large_file_memory", "--child",
                     str(corpus), str(Path(tmp) / f"i{mb:g}-{fmt}"), args.model,
                     "0" if args.no_progress else "1"],
                    stdout=subprocess.PIPE, text=True, check=True)  # stderr: build progress
                s = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append({"format": fmt, "megabytes": mb, "model": args.model,
                             "documents": s["documents"], "vectors": s["vectors"],
                             "seconds": round(s["seconds"], 1),
                             "peak_rss_mb": round(s["peak_memory_mb"])})
                print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    for row in rows[1:]:
        print(f"{row['megabytes']:g} MB .{row['format']}: peak RSS {row['peak_rss_mb']} MB = "
              f"{row['peak_rss_mb'] / base['peak_rss_mb']:.2f}x the {base['megabytes']:g} MB "
              f".{base['format']} file's {base['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
