"""BM25 speed: opening a saved lexical index, its first query, and batched search.

    NYX_DATA_DIR=../shared/data python -m nyx.benchmarks.bm25_speed
    NYX_DATA_DIR=../shared/data python -m nyx.benchmarks.bm25_speed --synthetic-mb 50
    NYX_DATA_DIR=../shared/data python -m nyx.benchmarks.bm25_speed --save-memory-mb 50

Two indexes: the 2,067 SQuAD v1.1 dev paragraphs, and (``--synthetic-mb``) a larger text made
of those paragraphs repeated to the size asked, one document per paragraph, each tagged
``(copy N)`` so that copies differ. For each: the time to save it, to open it again
(``LexicalIndex.load``, best of ``--repeat`` in this process, so the files are in the page
cache), and to answer the first query after opening. Then the 10,570 SQuAD dev questions,
top-10, as one ``search`` call (a list) and one call per question: queries per second. The
numbers are printed, never checked; only the two ways of searching are compared for identical
results.

``--save-memory-mb`` instead measures a build's memory, as ``nyx-index build`` builds: a fresh
process adds that much text with ``defer_adds`` (documents spilled to disk) and saves; it
prints the peak RSS before the save and after it, and the save's time.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main", "measure"]


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = call()
    return time.perf_counter() - start, value


def _open_and_query(folder: Path, query: str, repeat: int) -> dict[str, float]:
    from nyx.indexes import LexicalIndex

    loads, firsts = [], []
    for _ in range(repeat):
        seconds, index = _timed(lambda: LexicalIndex.load(folder))
        loads.append(seconds)
        firsts.append(_timed(lambda index=index: index.search([query], 10))[0])
    return {"load_s": min(loads), "load_median_s": statistics.median(loads),
            "first_query_s": min(firsts)}


def _synthetic(texts: list[str], megabytes: float) -> Any:
    """(id, text) of SQuAD paragraphs repeated to `megabytes`, made one at a time."""
    size, i = 0, 0
    while size < megabytes * 2**20:
        text = f"{texts[i % len(texts)]} (copy {i // len(texts)})"
        size += len(text.encode("utf-8")) + 2
        yield f"p{i}", text
        i += 1


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def save_memory(megabytes: float) -> dict[str, Any]:
    """Peak RSS of a spilled build of `megabytes` of text, before and after its save (run it
    in a fresh process: the peak is the process's)."""
    from nyx.benchmarks.datasets import load_dataset
    from nyx.indexes import LexicalIndex

    texts = [doc["text"] for doc in load_dataset("squad-dev").corpus.values()]
    with tempfile.TemporaryDirectory(prefix="nyx-bm25-memory-") as tmp:
        index = LexicalIndex()
        index.defer_adds(Path(tmp) / "spill")
        batch: list[tuple[str, str]] = []
        documents = 0
        for pair in _synthetic(texts, megabytes):
            batch.append(pair)
            if len(batch) == 512:
                index.add([i for i, _ in batch], [t for _, t in batch])
                documents, batch = documents + len(batch), []
        if batch:
            index.add([i for i, _ in batch], [t for _, t in batch])
            documents += len(batch)
        before = _peak_rss_mb()
        save_s, _ = _timed(lambda: index.save(Path(tmp) / "saved"))
        return {"what": f"spilled build + save, {megabytes:g} MB", "documents": documents,
                "peak_rss_before_save_mb": before, "peak_rss_after_save_mb": _peak_rss_mb(),
                "save_s": save_s}


def _index_of(ids: list[str], texts: list[str]) -> Any:
    from nyx.indexes import LexicalIndex

    index = LexicalIndex()
    for start in range(0, len(ids), 2048):
        index.add(ids[start:start + 2048], texts[start:start + 2048])
    return index


def measure(synthetic_mb: float, repeat: int, queries: int | None) -> list[dict[str, Any]]:
    """One row per measurement (a dict with a ``what`` and its numbers)."""
    from nyx.benchmarks.datasets import load_dataset

    data = load_dataset("squad-dev")
    ids = list(data.corpus)
    texts = [doc["text"] for doc in data.corpus.values()]
    questions = [q["text"] for q in data.queries.values()][:queries]
    rows: list[dict[str, Any]] = []
    corpora = [("squad-dev", ids, texts)]
    if synthetic_mb > 0:
        pairs = list(_synthetic(texts, synthetic_mb))
        corpora.append((f"synthetic-{synthetic_mb:g}MB", [i for i, _ in pairs],
                        [t for _, t in pairs]))
    with tempfile.TemporaryDirectory(prefix="nyx-bm25-speed-") as tmp:
        for name, doc_ids, doc_texts in corpora:
            build_s, index = _timed(lambda doc_ids=doc_ids, doc_texts=doc_texts:
                                    _index_of(doc_ids, doc_texts))
            folder = Path(tmp) / name
            save_s, _ = _timed(lambda index=index, folder=folder: index.save(folder))
            on_disk = sum(p.stat().st_size for p in folder.iterdir())
            row = {"what": f"open {name}", "documents": len(doc_ids), "build_s": build_s,
                   "save_s": save_s, "disk_mb": on_disk / 2**20}
            row.update(_open_and_query(folder, questions[0], repeat))
            rows.append(row)
            del index
        from nyx.indexes import LexicalIndex

        index = LexicalIndex.load(Path(tmp) / "squad-dev")
        index.search(questions[:8], 10)  # warm up
        batched_s, batched = _timed(lambda: index.search(questions, 10))
        single_s, single = _timed(lambda: [index.search([q], 10)[0] for q in questions])
        same = sum(a == b for a, b in zip(batched, single))
        rows.append({"what": "squad-dev questions, top-10", "queries": len(questions),
                     "batched_qps": len(questions) / batched_s,
                     "one_at_a_time_qps": len(questions) / single_s,
                     "identical": f"{same}/{len(questions)}"})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic-mb", type=float, default=0.0,
                        help="also index this many MB of repeated SQuAD paragraphs (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="loads per index (best is shown)")
    parser.add_argument("--queries", type=int, default=None,
                        help="search only the first N questions (default: all 10,570)")
    parser.add_argument("--save-memory-mb", type=float, default=0.0,
                        help="measure the peak memory of a spilled build and save of this many "
                             "MB instead (in a fresh process)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.save_memory_mb and args.child:
        print(json.dumps(save_memory(args.save_memory_mb)))
        return
    if args.save_memory_mb:
        out = subprocess.run([sys.executable, "-m", "nyx.benchmarks.bm25_speed", "--child",
                              "--save-memory-mb", str(args.save_memory_mb)],
                             check=True, capture_output=True, text=True).stdout
        rows = [json.loads(out.strip().splitlines()[-1])]
    else:
        rows = measure(args.synthetic_mb, args.repeat, args.queries)
    for row in rows:
        print("  ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                        for key, value in row.items()))


if __name__ == "__main__":
    main()
