"""Finding pictures by the words of their file names, on a real folder nobody tuned for.

``python -m nyx.benchmarks.name_search`` copies the non-symbolic 48x48 PNG icons of six Adwaita
categories (Debian's ``adwaita-icon-theme``: no text in the pixels, only names such as
``devices/audio-headphones.png``) and up to 150 small text files of ``/usr/share/doc`` into one
folder, builds it with ``nyx-index build``'s defaults and asks object queries. A query scores
when an icon whose file name holds the query's word is in its top 5 (the rank is printed).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["QUERIES", "build_folder", "main"]

ICONS = Path("/usr/share/icons/Adwaita/48x48")
DOCS = Path("/usr/share/doc")
CATEGORIES = ("devices", "places", "status", "apps", "mimetypes", "legacy")
#: query -> the word an icon's file name must hold to count as found
QUERIES = {"headphones": "headphones", "printer": "printer", "folder": "folder",
           "warning": "warning", "camera": "camera", "battery": "battery",
           "a folder icon": "folder", "a red warning icon": "warning"}


def build_folder(root: Path, max_docs: int = 150) -> tuple[int, int]:
    """The icons and documentation files in ``root``; returns (icons, docs) copied."""
    icons = 0
    for category in CATEGORIES:
        for path in sorted((ICONS / category).glob("*.png")):
            if "symbolic" in path.name:
                continue
            target = root / "icons" / category / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
            icons += 1
    docs = sorted(p for p in DOCS.rglob("*") if p.is_file() and not p.is_symlink()
                  and p.suffix in ("", ".md", ".txt") and p.name != "copyright"
                  and p.stat().st_size < 200_000)[:max_docs]
    for path in docs:
        target = root / "doc" / path.relative_to(DOCS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return icons, len(docs)


def main(argv: list[str] | None = None) -> int:
    from nyx import Retriever
    from nyx.builder import BuildOptions, build_index

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("out/name-search"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not ICONS.is_dir():
        print(f"{ICONS} is missing: apt-get install adwaita-icon-theme")
        return 2
    shutil.rmtree(args.work, ignore_errors=True)
    icons, docs = build_folder(args.work / "folder")
    start = time.perf_counter()
    summary = build_index(args.work / "folder", args.work / "index",
                          BuildOptions(show_progress=False))
    print(f"{icons} icons + {docs} documentation files -> {summary.documents} documents in "
          f"{time.perf_counter() - start:.0f} s")
    found = 0
    with Retriever.load(args.work / "index") as r:
        for query, word in QUERIES.items():
            top = [h.source or h.id for h in r.search(query, k=5)]
            ranks = [i for i, s in enumerate(top, 1)
                     if s.endswith(".png") and word in s.rsplit("/", 1)[-1]]
            found += bool(ranks)
            print(f"{query!r}: matching icon at rank {ranks[0] if ranks else '-'}; top 5: "
                  + ", ".join(s.rsplit("/", 1)[-1] for s in top))
    print(f"{found} of {len(QUERIES)} queries put a matching icon in the top 5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
