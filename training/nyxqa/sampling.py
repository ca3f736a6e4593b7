"""Chunks of a document folder, and a seeded sample of them by modality mix."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from nyx.content import ImagePart, Item
from nyx.corpus import SourceError, scan_corpus
from nyx.readers import parse_source

logger = logging.getLogger(__name__)

MODALITIES = ("text", "interleaved", "image")


def load_chunks(corpus: str | Path, max_words: int = 150) -> list[Item]:
    """Every chunk of every readable file (≈``max_words`` words, ≤5 images each), with ids."""
    root = Path(corpus).resolve()
    scan = scan_corpus(root)
    for rel, reason in scan.skipped:
        logger.info("skipped %s: %s", rel, reason)
    items: list[Item] = []
    for source in scan.files:
        try:
            parsed = parse_source(source, root, max_words)
        except SourceError as exc:
            logger.warning("skipped %s: %s", source.rel, exc)
            continue
        for note in parsed.notes:
            logger.info("%s: %s", source.rel, note)
        items.extend(_as_references(item) for item in parsed.items)
    if not items:
        raise ValueError(f"no chunks found under {root}: add .md/.txt/.html/.jsonl/.pdf files "
                         "or images")
    return items


def _as_references(item: Item) -> Item:
    """Training data refers to image files by path: a corpus image the reader held as bytes is
    named by the file it was read from."""
    if not any(isinstance(p, ImagePart) and p.origin for p in item.parts):
        return item
    parts = [ImagePart(p.origin, alt=p.alt) if isinstance(p, ImagePart) and p.origin else p
             for p in item.parts]
    return Item(parts, item.metadata, item.id)


def modality_quotas(available: Mapping[str, int], mix: Mapping[str, float],
                    n: int) -> dict[str, int]:
    """How many chunks to draw per modality: ``mix`` shares of ``n``, capped by what exists,
    the shortfall handed to the other modalities in proportion to their shares."""
    unknown = set(mix) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)} in modality_mix; use "
                         f"{list(MODALITIES)}")
    if any(v < 0 for v in mix.values()) or not sum(mix.values()) > 0:
        raise ValueError(f"modality_mix needs non-negative shares with a positive sum, got "
                         f"{dict(mix)}")
    n = min(n, sum(available.get(m, 0) for m in mix if mix[m] > 0))
    quotas = dict.fromkeys(mix, 0)
    remaining = n
    open_ = [m for m in mix if mix[m] > 0 and available.get(m, 0) > 0]
    while remaining > 0 and open_:
        total = sum(mix[m] for m in open_)
        shares = {m: remaining * mix[m] / total for m in open_}
        grant = {m: int(shares[m]) for m in open_}
        # Largest remainders get the leftover units, so the quotas sum to ``remaining``.
        for m in sorted(open_, key=lambda m: shares[m] - grant[m], reverse=True)[
                :remaining - sum(grant.values())]:
            grant[m] += 1
        for m in open_:
            take = min(grant[m], available[m] - quotas[m])
            quotas[m] += take
            remaining -= take
        open_ = [m for m in open_ if quotas[m] < available[m]]
    return quotas


def sample_by_modality(items: Sequence[Item], mix: Mapping[str, float], n: int,
                       seed: int = 0) -> list[Item]:
    """A seeded sample following :func:`modality_quotas`, in corpus order."""
    groups: dict[str, list[int]] = {m: [] for m in MODALITIES}
    for i, item in enumerate(items):
        groups[item.modality].append(i)
    quotas = modality_quotas({m: len(v) for m, v in groups.items()}, mix, n)
    rng = random.Random(seed)
    chosen: list[int] = []
    for modality, quota in quotas.items():
        chosen.extend(rng.sample(groups[modality], quota))
    logger.info("sampled %s chunks by modality (available %s)", quotas,
                {m: len(v) for m, v in groups.items()})
    return [items[i] for i in sorted(chosen)]
