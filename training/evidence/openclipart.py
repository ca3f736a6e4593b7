"""Evidence: train nyx-lite's image projection on OpenClipart and compare it with ConSE.

    python -m nyx.training.evidence.openclipart [--out DIR] [--config training/configs/...yaml]

1. pairs every OpenClipart PNG with a caption from its SVG's metadata; splits by title
   (train / dev / test, so test captions are unseen);
2. caches EfficientNet-Lite0 features and ImageNet probabilities of every image once;
3. trains the projection with ``nyx-train``'s contrastive trainer (the YAML config);
4. scores held-out text->image Recall@1/@10 for the trained projection, nyx-lite's default
   ConSE mapping (OCR off) and an untrained projection, on the same test images, with the
   full caption and with the title alone as the query. An image is relevant to a query when
   its caption (or title) is the query's.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nyx.content import ImagePart
from nyx.encoders.base import l2_normalize
from nyx.training.checkpoint import seed_everything
from nyx.training.config import TrainConfig
from nyx.training.evaluation import hit_rates
from nyx.training.evidence.common import evidence_parser, start, write_results
from nyx.training.evidence.openclipart_data import find_pairs, split_by_title, write_splits
from nyx.training.features import FeatureCache
from nyx.training.jsonl import read_jsonl

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).parents[1] / "configs" / "lite-projection-openclipart.yaml"
SPLITS = {"train": 0.8, "dev": 0.05, "test": 0.15}


def relevance(keys: list[str]) -> tuple[list[str], list[set[int]]]:
    """Distinct query keys and, for each, the rows whose key equals it."""
    rows: dict[str, set[int]] = {}
    for i, key in enumerate(keys):
        rows.setdefault(key, set()).add(i)
    return list(rows), list(rows.values())


def score(text_vectors: dict[str, np.ndarray], image_vectors: np.ndarray,
          test: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, field in (("caption", "query"), ("title", "title")):
        queries, relevant = relevance([r[field] for r in test])
        q = np.stack([text_vectors[t] for t in queries])
        out[name] = hit_rates(q, image_vectors, relevant, (1, 10))
        out[name]["queries"] = float(len(queries))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = evidence_parser(__doc__, "openclipart")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    start(args)
    from nyx.training.runs import run_contrastive

    pairs = find_pairs()
    paths = write_splits(split_by_title(pairs, SPLITS, seed=0), args.out / "data")
    config = TrainConfig.from_yaml(args.config)
    config.output_dir = str(args.out / "run")
    config.data.train, config.data.dev = str(paths["train"]), str(paths["dev"])
    config.model.feature_cache = str(args.out / "features")

    started = time.perf_counter()
    result = run_contrastive(config)
    train_seconds = time.perf_counter() - started

    from nyx.encoders.lite import NyxLite
    from nyx.encoders.projection import ImageProjection

    lite = NyxLite(device="cpu", ocr=False)
    test = read_jsonl(paths["test"])
    cache = FeatureCache(config.model.feature_cache)
    parts = [ImagePart(r["positive"]["images"][0]) for r in test]
    keys = cache.build(parts, lambda: lite.image_tower.run)  # no-op when cached already
    features, probs = cache.get(keys)
    texts = sorted({r["query"] for r in test} | {r["title"] for r in test})
    text_vectors = dict(zip(texts, lite.encode_texts(texts, batch_size=64)))

    trained = ImageProjection.load(result.exported)  # type: ignore[arg-type]
    seed_everything(config.seed)
    untrained = torch.nn.Linear(features.shape[1], lite.dim)
    systems = {
        "trained projection": l2_normalize(trained(features)),
        "ConSE (nyx-lite default, OCR off)": l2_normalize(lite.conse(probs)),
        "untrained projection (random init)": l2_normalize(
            untrained(torch.from_numpy(features)).detach().numpy()),
    }
    # The cached path must be nyx-lite's own: check a few images end to end.
    sample = parts[:8]
    direct = NyxLite(device="cpu", ocr=False).encode_documents(sample)
    conse_gap = float(np.abs(direct - systems["ConSE (nyx-lite default, OCR off)"][:8]).max())
    projected = NyxLite(device="cpu", ocr=False, projection=str(result.exported))
    proj_gap = float(np.abs(projected.encode_documents(sample) -
                            systems["trained projection"][:8]).max())

    results = {
        "data": {"pairs": len(pairs), **{k: len(read_jsonl(v)) for k, v in paths.items()},
                 "test_distinct_captions": len({r["query"] for r in test}),
                 "test_distinct_titles": len({r["title"] for r in test})},
        "training": {"steps": result.state.step, "seconds": round(train_seconds, 1),
                     "first_loss": result.losses[0], "last_loss": result.losses[-1],
                     "config": str(args.config)},
        "check_max_abs_diff_vs_nyx_lite": {"conse": conse_gap, "projection": proj_gap},
        "recall": {name: score(text_vectors, vectors, test) for name, vectors in
                   systems.items()},
    }
    write_results(args.results, results)
    print_table(results)
    return results


def print_table(results: dict[str, Any]) -> None:
    data = results["data"]
    print(f"\nOpenClipart held-out text->image retrieval: {data['test']} test images, "
          f"{data['test_distinct_captions']} distinct captions, {data['test_distinct_titles']} "
          "distinct titles\n")
    print(f"| {'image vectors':36} | caption R@1 | caption R@10 | title R@1 | title R@10 |")
    print(f"|{'-' * 38}|-------------|--------------|-----------|------------|")
    for name, by_query in results["recall"].items():
        c, t = by_query["caption"], by_query["title"]
        print(f"| {name:36} | {c['recall@1']:11.3f} | {c['recall@10']:12.3f} | "
              f"{t['recall@1']:9.3f} | {t['recall@10']:10.3f} |")


if __name__ == "__main__":
    main()
