"""Hybrid search served by Qdrant against FAISS + the in-process BM25: top-10 agreement.

The congruence corpus is real prose that ships with Python: the docstrings of ~70 standard
library modules, one paragraph per document (long ones chunked by the Retriever), each with
its module and kind as metadata. Queries are word windows from other paragraphs (so BM25 and
dense both have something to find); every query also runs with a metadata filter.

    python -m nyx.benchmarks.qdrant_hybrid --docs 1500 --queries 300
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nyx.content import Item
from nyx.hybrid import HybridConfig

logger = logging.getLogger(__name__)

MODULES: tuple[str, ...] = (
    "json", "os", "re", "collections", "itertools", "functools", "pathlib",
    "argparse", "logging", "email.message", "http.client", "urllib.request", "asyncio",
    "unittest", "sqlite3", "csv", "datetime", "decimal", "fractions", "statistics", "random",
    "string", "textwrap", "difflib", "heapq", "bisect", "enum", "dataclasses", "inspect",
    "ast", "tokenize", "zipfile", "tarfile", "gzip", "hashlib", "hmac", "secrets", "socket",
    "ssl", "selectors", "threading", "multiprocessing", "subprocess", "shutil", "tempfile",
    "glob", "fnmatch", "pickle", "copy", "pprint", "contextlib", "abc", "io", "time",
    "calendar", "locale", "gettext", "codecs", "unicodedata", "struct", "array", "weakref",
    "types", "operator", "math", "cmath", "numbers", "queue", "sched", "configparser",
    "optparse", "getopt", "platform", "sysconfig", "traceback", "warnings",
)
FILTERS: tuple[dict[str, Any] | None, ...] = (None, {"kind": "class"})
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def docstring_corpus(n_docs: int, seed: int = 0) -> list[Item]:
    """Paragraphs of standard-library docstrings (>= 8 words), ``n_docs`` drawn at random."""
    seen: set[str] = set()
    items: list[Item] = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, obj in sorted(vars(module).items()):
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            doc = inspect.getdoc(obj) or ""
            for n, para in enumerate(p.strip() for p in doc.split("\n\n")):
                text = " ".join(para.split())
                if len(text.split()) < 8 or text in seen:
                    continue
                seen.add(text)
                kind = "class" if inspect.isclass(obj) else "function"
                items.append(Item([text], {"module": name, "kind": kind},
                                  f"{name}.{attr}#{n}"))
    random.Random(seed).shuffle(items)
    return sorted(items[:n_docs], key=lambda item: str(item.id))


def word_window_queries(items: list[Item], n: int, seed: int = 1) -> list[str]:
    """Windows of 3 to 7 words from random documents' text."""
    rng = random.Random(seed)
    queries = []
    while len(queries) < n:
        words = _WORD.findall(rng.choice(items).text)
        if len(words) < 8:
            continue
        size = rng.randint(3, 7)
        start = rng.randrange(0, len(words) - size)
        queries.append(" ".join(words[start:start + size]))
    return queries


@dataclass
class Agreement:
    served: str
    local: str
    queries: int
    same_set: float
    same_order: float
    mean_overlap: float


def agreement(local: Any, served: Any, queries: list[str], k: int = 10,
              label: tuple[str, str] = ("", "")) -> Agreement:
    """Share of queries (each with and without a filter) whose top ``k`` ids agree."""
    same_set = same_order = overlap = total = 0
    for flt in FILTERS:
        a = local.search(queries, k=k, filter=flt)
        b = served.search(queries, k=k, filter=flt)
        for ra, rb in zip(a, b):
            ia, ib = [h.id for h in ra], [h.id for h in rb]
            same_set += set(ia) == set(ib)
            same_order += ia == ib
            overlap += len(set(ia) & set(ib)) / max(len(ia), 1)
            total += 1
    return Agreement(label[0], label[1], total, same_set / total, same_order / total,
                     overlap / total)


#: (Qdrant-side fusion, local fusion it is compared with)
PAIRS: tuple[tuple[str, str], ...] = (
    ("exact", "adaptive"), ("formula", "adaptive"), ("rrf", "adaptive"), ("dbsf", "adaptive"),
    ("formula", "minmax"), ("rrf", "rrf"), ("dbsf", "zscore"),
)


def run(n_docs: int, n_queries: int, encoder: Any = None) -> list[Agreement]:
    from nyx.retriever import Retriever

    items = docstring_corpus(n_docs)
    queries = word_window_queries(items, n_queries)
    local = Retriever(encoder or "nyx-lite")
    served = Retriever(local.encoder, index="qdrant")
    start = time.perf_counter()
    vectors = local.encode_for_add(items)
    local.add(items, vectors=vectors)
    served.add(items, vectors=vectors)
    logger.info("indexed %d documents in %.1f s", len(items), time.perf_counter() - start)
    rows = []
    for qdrant_fusion, local_fusion in PAIRS:
        served.index.config.hybrid = qdrant_fusion  # type: ignore[attr-defined]
        config = HybridConfig(method=local_fusion,
                              dense_weight=0.5 if local_fusion == "rrf" else 0.45)
        local.hybrid = served.hybrid = config
        rows.append(agreement(local, served, queries, label=(qdrant_fusion, local_fusion)))
    local.close()
    served.close()
    return rows


def report(rows: list[Agreement], n_docs: int, n_queries: int) -> str:
    lines = [f"Top-10 agreement, Qdrant-served hybrid vs FAISS + local BM25 "
             f"({n_docs} docstring paragraphs, {n_queries} queries x {len(FILTERS)} filters)",
             "", "| Qdrant fusion | local fusion | same top-10 set | same order | mean overlap |",
             "|---|---|---|---|---|"]
    lines += [f"| {r.served} | {r.local} | {r.same_set:.1%} | {r.same_order:.1%} | "
              f"{r.mean_overlap:.3f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = run(args.docs, args.queries)
    text = report(rows, args.docs, args.queries)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
