"""The main job on the embedded default: build an index over the bundled corpus and query it.

Run with ``python -m nyx.demo`` (or ``make demo``). Needs no network. The index is written to
``out/demo.nyx`` (``--output``); running again updates it incrementally.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from nyx.builder import BuildOptions, build_index
from nyx.content import Item
from nyx.relevance import DEFAULT_MIN_RELEVANCE
from nyx.retriever import Retriever


def demo_corpus() -> Path:
    return Path(str(resources.files("nyx") / "data" / "demo_corpus"))


def demo_queries(root: Path) -> list[tuple[str, Item]]:
    return [
        ("text query, photos and notes expected", Item.of("a cup of coffee")),
        ("text query, photos and notes expected", Item.of("a space launch")),
        ("text query, answered by a sign's OCR text", Item.of("when does the library open?")),
        ("text query", Item.of("how long do cats sleep?")),
        ("text query", Item.of("can I get my money back?")),
        ("text query, about nothing in the corpus", Item.of("ancient amphitheatre")),
        ("image query", Item.of(root / "photos" / "chelsea-the-cat.jpg")),
        ("image query", Item.of(root / "photos" / "rocket-launch.jpg")),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("out/demo.nyx"))
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = demo_corpus()
    summary = build_index(root, args.output, BuildOptions())
    print(f"built {summary.index} ({summary.generation}): {summary.documents} documents from "
          f"{len(summary.added) + len(summary.updated) + summary.unchanged} files in "
          f"{summary.seconds:.1f} s (added {len(summary.added)}, unchanged {summary.unchanged}, "
          f"skipped {len(summary.skipped)})\n")
    with Retriever.load(args.output) as retriever:
        for label, query in demo_queries(root):
            shown = query.text or f"[image {query.images[0].path.name}]"
            print(f"{label}: {shown}")
            cut = DEFAULT_MIN_RELEVANCE if not query.images else None
            hits = retriever.search(query, k=args.k, min_score=cut)
            if not hits:
                print(f"  (no hit with relevance {DEFAULT_MIN_RELEVANCE} or more)")
            for rank, hit in enumerate(hits, 1):
                kind = hit.document.modality if hit.document else "?"
                what = " ".join(hit.text.split())[:60] or "(no text)"
                relevance = "   -" if hit.relevance is None else f"{hit.relevance:.2f}"
                print(f"  {rank}. {hit.score:.3f}  {relevance}  {hit.id:<26} [{kind}] {what}")
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
