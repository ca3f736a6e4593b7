"""Text queries over a mixed corpus: do image-intent queries find their pictures, and do text
questions still find their passages, when both live in one index?

One index holds the passages of a text domain (its questions are the *text-intent* queries)
and the held-out images of an image source (their captions, e.g. "coffee cup", are the
*image-intent* queries; every image sharing the caption is relevant). Scores are exactly the
retriever's: nyx-lite dense (best chunk per document) and BM25 over each document's searchable
text (an image's is what OCR read in it), fused per query over the top ``candidates`` of each
ranking with :func:`nyx.hybrid.fuse_scores`. Each fusion setting is scored on both query sets.

    python -m nyx.benchmarks.mixed_modality --text squad-dev --images openclipart     # tuning
    python -m nyx.benchmarks.mixed_modality --text squad-shifts-new-wiki --images fashion-mnist
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.domain_data import bm25_matrix, document_pieces, term_matrix
from nyx.benchmarks.vector_cache import bench_cache_dir, cached_vectors
from nyx.hybrid import HybridConfig, fuse_scores

logger = logging.getLogger(__name__)

K = 10


@dataclass
class MixedData:
    queries: list[str]
    intent: np.ndarray  # (Q,) "text" | "image"
    relevant: list[set[int]]
    dense: np.ndarray  # (Q, D)
    lexical: np.ndarray  # (Q, D) BM25
    has_text: np.ndarray  # (D,) whether the document has any searchable text
    n_text_docs: int


def load_mixed(text_domain: str, image_source: str, text_queries: int, seed: int = 0,
               bridge: str | None = None) -> MixedData:
    from nyx import Item, load_encoder
    from nyx.benchmarks.datasets import load_dataset
    from nyx.benchmarks.retrieval import document_text
    from nyx.content import ImagePart
    from nyx.indexes import BM25Config, Tokenizer
    from nyx.training.image_sources import load_sources

    encoder = load_encoder("nyx-lite", **({"bridge": bridge} if bridge else {}))
    dataset = load_dataset(text_domain)
    doc_ids = list(dataset.corpus)
    doc_texts = [document_text(dataset.corpus[d]) for d in doc_ids]
    rng = np.random.default_rng(seed)
    qids = list(dataset.queries)
    qids = [qids[i] for i in sorted(rng.choice(len(qids), min(text_queries, len(qids)),
                                               replace=False))]
    position = {d: i for i, d in enumerate(doc_ids)}
    text_q = [dataset.queries[q]["text"] for q in qids]
    text_rel = [{position[d] for d, g in dataset.qrels[q].items() if g > 0} for q in qids]

    (_, images), = list(load_sources([image_source]))
    images = [im for im in images if im.split == "eval" and isinstance(im.image, str)]
    paths = [str(im.image) for im in images]
    captions = sorted({im.caption for im in images})
    n_text = len(doc_texts)
    image_rel = [{n_text + i for i, im in enumerate(images) if im.caption == c}
                 for c in captions]

    pieces, owner = document_pieces(doc_texts)
    chunk_vecs = cached_vectors(f"{text_domain}-chunks", encoder.version, pieces,
                                lambda: encoder.encode_documents(pieces, batch_size=64,
                                                                 show_progress=True))
    image_items = [Item([ImagePart(p)]) for p in paths]
    image_vecs = cached_vectors(f"mixed-{image_source}-images", encoder.version, paths,
                                lambda: encoder.encode_documents(image_items, batch_size=32,
                                                                 show_progress=True))
    image_texts = _image_texts(encoder, image_source, paths, image_items)
    queries = text_q + captions
    query_vecs = cached_vectors(f"mixed-{text_domain}-{image_source}-queries", encoder.version,
                                queries, lambda: encoder.encode_queries(queries, batch_size=128))
    dense_text = np.full((len(queries), n_text), -np.inf)
    np.maximum.at(dense_text.T, np.asarray(owner), (query_vecs @ chunk_vecs.T).T)
    dense = np.hstack([dense_text, query_vecs @ image_vecs.T]).astype(np.float64)

    tokenize = Tokenizer()
    all_texts = doc_texts + image_texts
    doc_tokens = [tokenize(t) for t in all_texts]
    vocab = {t: i for i, t in enumerate(sorted({t for toks in doc_tokens for t in toks}))}


    config = BM25Config()
    lexical = bm25_matrix(term_matrix(doc_tokens, vocab),
                          term_matrix([tokenize(q) for q in queries], vocab),
                          config.k1, config.b)
    intent = np.array(["text"] * len(text_q) + ["image"] * len(captions))
    return MixedData(queries, intent, text_rel + image_rel, dense, lexical,
                     np.array([bool(t.strip()) for t in all_texts]), n_text)


def _image_texts(encoder: Any, source: str, paths: list[str], items: list[Any]) -> list[str]:
    """What OCR reads in each image (its searchable text), cached beside the vectors."""
    file = bench_cache_dir("vectors") / f"mixed-{source}-ocr-{encoder.version}.json"
    if file.is_file():
        cached = json.loads(file.read_text())
        if cached.get("paths") == paths:
            return cached["texts"]
    texts = [encoder.document_text(item) for item in items]
    file.write_text(json.dumps({"paths": paths, "texts": texts}))
    return texts


def ndcg_at_k(ranked: list[int], relevant: set[int], k: int = K) -> float:
    gains = [1.0 / np.log2(r + 2) for r, d in enumerate(ranked[:k]) if d in relevant]
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(relevant))))
    return float(sum(gains) / ideal) if ideal else 0.0


def evaluate(data: MixedData, config: HybridConfig, gap: float = 0.0
             ) -> dict[str, dict[str, float]]:
    """nDCG@10 and R@10 per intent for one fusion setting; ``gap`` is added to the dense
    score of documents without text (an experiment: the text-image modality gap)."""
    rows: dict[str, list[tuple[float, float]]] = {"text": [], "image": []}
    c = config.candidates
    for q in range(len(data.queries)):
        dense = data.dense[q] + np.where(data.has_text, 0.0, gap)
        lexical = data.lexical[q]
        top_dense = np.argsort(-dense, kind="stable")[:c]
        matched = np.flatnonzero(lexical > 0)
        top_lexical = matched[np.argsort(-lexical[matched], kind="stable")[:c]]
        cand = list(dict.fromkeys([*top_dense.tolist(), *top_lexical.tolist()]))
        in_dense = np.isin(cand, top_dense)
        in_lexical = np.isin(cand, top_lexical)
        fused = fuse_scores([str(i) for i in cand], dense[cand], lexical[cand], config,
                            in_dense=in_dense, in_lexical=in_lexical,
                            has_text=data.has_text[cand])
        ranked = [int(i) for i, _ in fused]
        rel = data.relevant[q]
        recall = len(set(ranked[:K]) & rel) / len(rel)
        rows[str(data.intent[q])].append((ndcg_at_k(ranked, rel), recall))
    return {intent: {"ndcg@10": float(np.mean([r[0] for r in v])),
                     "recall@10": float(np.mean([r[1] for r in v])), "queries": len(v)}
            for intent, v in rows.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", default="squad-dev", help="text domain (nyx-bench data set)")
    parser.add_argument("--images", default="openclipart",
                        help="image source of nyx.training.image_sources (held-out split)")
    parser.add_argument("--text-queries", type=int, default=400)
    parser.add_argument("--bridge", choices=["conse", "trained"], default=None,
                        help="nyx-lite's image path (default: the shipped default, ConSE)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON here")
    parser.add_argument("--gaps", default="", help="also try these offsets on the dense score of "
                        "documents without text, e.g. 0.05,0.1 (the modality gap)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data = load_mixed(args.text, args.images, args.text_queries, bridge=args.bridge)
    print(f"{args.text} ({data.n_text_docs} passages) + {args.images} "
          f"({len(data.has_text) - data.n_text_docs} images, "
          f"{int((~data.has_text[data.n_text_docs:]).sum())} without OCR text)")
    results: dict[str, Any] = {}
    settings = [("dense only", HybridConfig(dense_weight=1.0, method="minmax", textless=0.0), 0.0),
                ("BM25 only", HybridConfig(dense_weight=0.0, method="minmax", textless=0.0), 0.0)]
    settings += [(f"hybrid, textless={share:g}", HybridConfig(textless=share), 0.0)
                 for share in (0.0, 0.25, 0.5, 0.75, 1.0)]
    gaps = [float(g) for g in args.gaps.split(",")] if args.gaps else []
    print(f"{'setting':<44} {'text nDCG@10':>13} {'image nDCG@10':>14} {'image R@10':>11}")
    settings += [(f"hybrid, textless={share:g}, gap={g:g}", HybridConfig(textless=share), g)
                 for g in gaps for share in (0.75, 1.0)]
    for label, config, gap in settings:
        row = evaluate(data, config, gap)
        results[label] = row
        print(f"{label:<44} {row['text']['ndcg@10']:>13.3f} {row['image']['ndcg@10']:>14.3f} "
              f"{row['image']['recall@10']:>11.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"text": args.text, "images": args.images,
                                        "results": results}, indent=2))


if __name__ == "__main__":
    main()
