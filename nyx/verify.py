"""Checking that an index's manifest, vectors, lexical index and document store agree."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexes import IndexDirectory, Manifest


@dataclass
class VerifyReport:
    index: str
    generation: str = ""
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_index(path: str | Path, *, sample: int = 200) -> VerifyReport:
    """Open the live generation and cross-check its parts; never modifies the index."""
    from nyx.retriever import _CHUNK_SEP, RETRIEVER_FILE, Retriever

    report = VerifyReport(str(path))
    folder = IndexDirectory(path).current()
    if folder is None:
        report.problems.append(f"no committed generation in {path} (CURRENT missing)")
        return report
    report.generation = folder.name
    for name in ("manifest.json", RETRIEVER_FILE, "docs.sqlite", "vectors"):
        if not (folder / name).exists():
            report.problems.append(f"{folder.name}/{name} is missing")
    if report.problems:
        return report
    manifest = Manifest.load(folder)
    settings = json.loads((folder / RETRIEVER_FILE).read_text())
    retriever = Retriever.load(path)
    try:
        docs, vectors = retriever.count(), retriever.index.count()
        report.checked = {"documents": docs, "vectors": vectors}
        for key, actual in (("documents", docs), ("vectors", vectors)):
            if manifest.counts.get(key) != actual:
                report.problems.append(f"manifest says {manifest.counts.get(key)} {key}, "
                                       f"found {actual}")
        if settings.get("lexical") and retriever.lexical is not None:
            lexical = retriever.lexical.count()
            report.checked["lexical"] = lexical
            if lexical != docs:
                report.problems.append(f"lexical index has {lexical} documents, store has {docs}")
        expected_vectors = 0
        vector_ids = set(retriever.index.ids())
        store_ids = set()
        doc_sources = set()
        for batch in retriever.store.iter_documents(1000):
            for doc in batch:
                store_ids.add(doc.id)
                if doc.source:
                    doc_sources.add(doc.source)
                n = int(doc.payload.get("n_vectors", 1))
                expected_vectors += n
                ids = [doc.id] if n == 1 else [f"{doc.id}{_CHUNK_SEP}{j}" for j in range(n)]
                missing = [i for i in ids if i not in vector_ids]
                if missing:
                    report.problems.append(f"document {doc.id} lacks {len(missing)} vector(s)")
        if expected_vectors != vectors:
            report.problems.append(f"documents own {expected_vectors} vectors, index has "
                                   f"{vectors}")
        orphans = {v.split(_CHUNK_SEP, 1)[0] for v in vector_ids} - store_ids
        if orphans:
            report.problems.append(f"{len(orphans)} vector(s) belong to no stored document, "
                                   f"e.g. {sorted(orphans)[:3]}")
        stored_sources = set(retriever.store.sources()) | doc_sources
        lost = [s for s in manifest.sources if s not in stored_sources]
        if lost:
            report.problems.append(f"{len(lost)} manifest source(s) have no documents, e.g. "
                                   f"{lost[:3]}")
        report.problems.extend(_check_norms(retriever, sample))
    finally:
        retriever.close()
    return report


def _check_norms(retriever, sample: int) -> list[str]:
    ids = retriever.index.ids()[:sample]
    if not ids:
        return []
    norms = np.linalg.norm(retriever.index.get_vectors(ids), axis=1)
    bad = int(np.sum(np.abs(norms - 1.0) > 1e-3))
    return [f"{bad} of {len(ids)} sampled vectors are not unit length"] if bad else []
