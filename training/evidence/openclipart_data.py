"""OpenClipart image-caption pairs: PNGs from ``openclipart-png`` with their SVGs' metadata.

Debian's ``openclipart-png`` and ``openclipart-svg`` (public domain) install the same drawings
under ``/usr/share/openclipart/{png,svg}/<category>/<name>.{png,svg}``. Each SVG's RDF metadata
names a title (``dc:title``), sometimes a description (``dc:description``) and keywords
(``dc:subject``). The caption of a PNG is built from its SVG's metadata; the creator's name, which
some authors put among the keywords, is left out. Symlinked duplicates are dropped.

The split is grouped by normalised title, so a held-out caption never occurs in training.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nyx.images import MAX_PIXELS

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/usr/share/openclipart")
INSTALL_HINT = "apt-get install openclipart-png openclipart-svg"

_WORK = re.compile(r"<cc:Work\b[^>]*>(.*?)</cc:Work>", re.S)
_AGENT = re.compile(r"<cc:Agent\b.*?</cc:Agent>", re.S)
_ITEM = re.compile(r"<rdf:li>(.*?)</rdf:li>", re.S)
_TAGS = re.compile(r"<[^>]+>")
#: Keywords that name collections or file types rather than what is drawn.
_STOP_KEYWORDS = frozenset({"", "hash", "magick", "clip art", "clipart", "svg", "png", "media",
                            "image", "unsorted", "special", "externalsource", "public domain"})


@dataclass
class ClipartMeta:
    title: str = ""
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    creator: str = ""

    def caption(self, max_keywords: int = 8) -> str:
        """``"Title. Description. Keywords: a, b, c."`` with empty pieces left out."""
        pieces = [self.title.strip().rstrip(".")]
        description = self.description.strip().rstrip(".")
        if description and description.lower() != self.title.lower():
            pieces.append(description)
        if self.keywords:
            pieces.append("Keywords: " + ", ".join(self.keywords[:max_keywords]))
        return ". ".join(p for p in pieces if p) + "."


def parse_svg_metadata(path: str | Path) -> ClipartMeta:
    """Title, description, keywords and creator from an SVG's ``cc:Work`` RDF block."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    match = _WORK.search(text)
    if match is None:
        return ClipartMeta()
    work = match.group(1)
    creator = _clean(_tag("title", _tag("creator", work)))
    own = _AGENT.sub("", work)  # publisher/creator/rights agents carry titles of their own
    keywords: list[str] = []
    for raw in _ITEM.findall(_tag("subject", own)):
        word = _clean(raw).replace("_", " ")
        if word.lower() in _STOP_KEYWORDS or word.lower() == creator.lower():
            continue
        if word.lower() not in (k.lower() for k in keywords):
            keywords.append(word)
    return ClipartMeta(_clean(_tag("title", own)), _clean(_tag("description", own)), keywords,
                       creator)


def _tag(name: str, text: str) -> str:
    match = re.search(rf"<dc:{name}\b[^>]*>(.*?)</dc:{name}>", text, re.S)
    return match.group(1) if match else ""


def _clean(raw: str) -> str:
    return " ".join(html.unescape(_TAGS.sub(" ", raw)).split())


@dataclass
class ClipartPair:
    png: str
    svg: str
    category: str
    meta: ClipartMeta

    def record(self) -> dict[str, object]:
        """A training-pair line: the caption queries for the image."""
        return {"query": self.meta.caption(), "positive": {"images": [self.png]},
                "title": self.meta.title, "category": self.category, "svg": self.svg}


def find_pairs(root: str | Path = DEFAULT_ROOT,
               categories: Sequence[str] | None = None) -> list[ClipartPair]:
    """Every real (non-symlink) PNG with a titled SVG of the same relative path, optionally
    only those under the given top-level ``categories`` (``animals``, ``food``...)."""
    root = Path(root)
    png_root, svg_root = root / "png", root / "svg"
    if not png_root.is_dir() or not svg_root.is_dir():
        raise FileNotFoundError(f"OpenClipart not found under {root}: {INSTALL_HINT}")
    pairs, untitled, too_large = [], 0, 0
    folders = [png_root / c for c in categories] if categories else [png_root]
    for png in sorted(p for folder in folders for p in folder.rglob("*.png")):
        if png.is_symlink():
            continue
        rel = png.relative_to(png_root)
        svg = (svg_root / rel).with_suffix(".svg")
        if not svg.is_file():
            continue
        if _too_large(png):
            too_large += 1
            continue
        meta = parse_svg_metadata(svg)
        if not meta.title:
            untitled += 1
            continue
        pairs.append(ClipartPair(str(png), str(svg), rel.parts[0], meta))
    logger.info("OpenClipart: %d titled PNG/SVG pairs (%d untitled and %d oversized PNGs "
                "skipped)", len(pairs), untitled, too_large)
    return pairs


def _too_large(png: Path) -> bool:
    """Whether nyx refuses the image as a decompression bomb (read from the header only)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(png) as image:
                width, height = image.size
    except Image.DecompressionBombError:  # PIL's own limit, far above nyx's
        return True
    return width * height > MAX_PIXELS


def split_by_title(pairs: list[ClipartPair], fractions: dict[str, float],
                   seed: int = 0) -> dict[str, list[ClipartPair]]:
    """Assign whole title groups to splits by a seeded hash of the normalised title."""
    total = sum(fractions.values())
    bounds, edge = [], 0.0
    for name, share in fractions.items():
        edge += share / total
        bounds.append((edge, name))
    out: dict[str, list[ClipartPair]] = {name: [] for name in fractions}
    for pair in pairs:
        title = " ".join(pair.meta.title.lower().split())
        digest = hashlib.sha256(f"{seed}:{title}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        out[next(name for edge, name in bounds if u < edge or edge == bounds[-1][0])].append(pair)
    return out


def write_splits(splits: dict[str, list[ClipartPair]], folder: str | Path) -> dict[str, Path]:
    """One jsonl of training-pair records per split (rewritten atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, pairs in splits.items():
        path = folder / f"{name}.jsonl"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as f:
            for pair in pairs:
                f.write(json.dumps(pair.record()) + "\n")
        os.replace(tmp, path)
        paths[name] = path
    return paths
