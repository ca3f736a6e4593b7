"""Checking that an index's manifest, vectors, lexical index and document store agree."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.encoders.registry import remote_reason
from nyx.indexes import IndexDirectory, Manifest
from nyx.indexes.generations import CHECKSUMS_FILENAME, check_checksums, special_files
from nyx.persistence import RETRIEVER_FILE, remote_vectors


@dataclass
class VerifyReport:
    index: str
    generation: str = ""
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    #: facts worth knowing that are not damage (e.g. an index older than checksums)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_index(path: str | Path, *, sample: int = 200) -> VerifyReport:
    """Check the live generation without trusting it: checksums written at commit, the
    schema of every JSON file, then counts across vectors, lexical index and store.

    Never modifies the index, never connects anywhere (a Qdrant URL in the folder is not
    contacted) and never loads a model. Every problem is one line in ``problems``.
    """
    report = VerifyReport(str(path))
    try:
        folder = IndexDirectory(path).current()
    except (OSError, ValueError) as exc:
        report.problems.append(str(exc))
        return report
    if folder is None:
        report.problems.append(f"no committed generation in {path} (CURRENT missing)")
        return report
    report.generation = folder.name
    odd = special_files(folder)
    if odd:  # never opened: a FIFO or a /dev/zero link would make the checks below hang
        report.problems += [f"{folder.name}/{entry} is not a regular file; an index holds "
                            "only regular files (the index was tampered with: rebuild it)"
                            for entry in odd]
        return report
    for name in ("manifest.json", RETRIEVER_FILE, "docs.sqlite", "vectors"):
        if not (folder / name).exists():
            report.problems.append(f"{folder.name}/{name} is missing")
    if (folder / CHECKSUMS_FILENAME).exists():
        report.problems.extend(check_checksums(folder))
    elif _committed_with_checksums(folder):
        report.problems.append(f"{folder.name}/{CHECKSUMS_FILENAME} is missing, but this "
                               "generation was committed with one: the index is damaged or "
                               "was tampered with (rebuild it)")
    else:
        report.notes.append(f"{folder.name} has no {CHECKSUMS_FILENAME} (committed by an older "
                            "release): file contents are not checked; re-save to add one")
    if report.problems:
        return report
    manifest = _schema(report, folder)
    if manifest is None or report.problems:
        return report
    settings = json.loads((folder / RETRIEVER_FILE).read_text(encoding="utf-8"))
    reason = remote_reason(settings["encoder"])
    if reason is not None:
        report.notes.append(f"encoder {settings['encoder']!r}: {reason}; search refuses to "
                            "fetch it unless given --model or --trust-remote")
    adapter = (settings.get("encoder_options") or {}).get("text_adapter")
    if adapter:
        report.problems.extend(_check_adapter(folder, str(adapter)))
        if report.problems:
            return report
        report.notes.append(f"text encoder adapted to this corpus ({adapter}); "
                            "`nyx-index adapt INDEX --undo` goes back to the plain one")
    if remote_vectors(folder / "vectors"):
        report.notes.append("vector counts not cross-checked (the server was not contacted)")
        return report
    try:
        _cross_check(report, path, folder, manifest, sample)
    except Exception as exc:  # a damaged file may fail in any library: report, never raise
        report.problems.append(f"cannot open {folder.name}: {type(exc).__name__}: {exc}")
    return report


def _check_adapter(folder: Path, relative: str) -> list[str]:
    """The text adapter ``nyx-index adapt`` recorded: inside the generation, named by its
    checksum (read as bytes; no model is loaded)."""
    from nyx.encoders.text_adapter import TextAdapter, adapter_relpath

    try:
        TextAdapter.load(folder / adapter_relpath(relative))
    except (ValueError, FileNotFoundError) as exc:
        return [str(exc)]
    return []


def _committed_with_checksums(folder: Path) -> bool:
    """Whether the manifest says the commit wrote checksums.json (unreadable: assume so)."""
    try:
        return bool(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
                    .get("checksums", False))
    except (OSError, ValueError, AttributeError):
        return True


def _schema(report: VerifyReport, folder: Path) -> Manifest | None:
    """Check every JSON file's shape; returns the manifest when it is sound."""
    try:
        manifest = Manifest.load(folder)
        problems = _typed(manifest.to_dict(), MANIFEST_SCHEMA, "manifest.json")
    except (OSError, ValueError, TypeError) as exc:
        report.problems.append(f"{folder.name}/manifest.json: {exc}")
        return None
    for name, schema in ((RETRIEVER_FILE, RETRIEVER_SCHEMA),
                         ("vectors/index.json", VECTORS_SCHEMA)):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{name} cannot be read: {exc}")
            continue
        problems += _typed(data, schema, name)
        if name.startswith("vectors") and not problems and data["dim"] != manifest.encoder.dim:
            problems.append(f"vectors/index.json says dim {data['dim']}, the manifest's "
                            f"encoder says {manifest.encoder.dim}")
        if name.startswith("vectors") and isinstance(data.get("config"), dict) and \
                data["config"].get("url"):
            report.notes.append("the vectors live on a Qdrant server "
                                f"({data['config']['url']}); it was not contacted")
    report.problems.extend(f"{folder.name}/{p}" for p in problems)
    return manifest


MANIFEST_SCHEMA: dict[str, Any] = {
    "encoder": {"name": str, "version": str, "dim": int}, "backend": {"name": str,
    "params": dict}, "sources": dict, "counts": dict, "created": str, "updated": str,
    "format_version": int}
RETRIEVER_SCHEMA: dict[str, Any] = {"encoder": str, "encoder_options": dict, "hybrid": dict,
                                    "max_words": int, "lexical": bool}
VECTORS_SCHEMA: dict[str, Any] = {"backend": str, "dim": int}


def _typed(data: Any, schema: dict[str, Any], where: str) -> list[str]:
    if not isinstance(data, dict):
        return [f"{where} is not a JSON object"]
    problems = []
    for key, kind in schema.items():
        if key not in data:
            problems.append(f"{where} has no {key!r}")
        elif isinstance(kind, dict):
            problems += _typed(data[key], kind, f"{where} {key}")
        elif not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
            problems.append(f"{where} {key!r} should be {kind.__name__}, got "
                            f"{type(data[key]).__name__}")
        elif kind is int and data[key] < 0:
            problems.append(f"{where} {key!r} is negative")
    return problems


def _cross_check(report: VerifyReport, path: str | Path, folder: Path, manifest: Manifest,
                 sample: int) -> None:
    from nyx.ids import document_id, vector_ids
    from nyx.retriever import Retriever

    settings = json.loads((folder / RETRIEVER_FILE).read_text())
    retriever = Retriever.load(path)
    try:
        docs, vectors = retriever.count(), retriever.index.count()
        report.checked = {"documents": docs, "vectors": vectors}
        if retriever.index.dim != manifest.encoder.dim:
            report.problems.append(f"the vector index has dim {retriever.index.dim}, the "
                                   f"manifest says {manifest.encoder.dim}")
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
        indexed = set(retriever.index.ids())
        store_ids = set()
        doc_sources = set()
        for batch in retriever.store.iter_documents(1000):
            for doc in batch:
                store_ids.add(doc.id)
                if doc.source:
                    doc_sources.add(doc.source)
                n = int(doc.payload.get("n_vectors", 1))
                expected_vectors += n
                ids = vector_ids(doc.id, n)
                missing = [i for i in ids if i not in indexed]
                if missing:
                    report.problems.append(f"document {doc.id} lacks {len(missing)} vector(s)")
        if expected_vectors != vectors:
            report.problems.append(f"documents own {expected_vectors} vectors, index has "
                                   f"{vectors}")
        orphans = {document_id(v) for v in indexed} - store_ids
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


def _check_norms(retriever, sample: int) -> list[str]:
    ids = retriever.index.ids()[:sample]
    if not ids:
        return []
    norms = np.linalg.norm(retriever.index.get_vectors(ids), axis=1)
    bad = int(np.sum(np.abs(norms - 1.0) > 1e-3))
    return [f"{bad} of {len(ids)} sampled vectors are not unit length"] if bad else []
