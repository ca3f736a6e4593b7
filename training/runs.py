"""Stage runners behind ``nyx-train``: contrastive training, the NyxQA pipeline, feedback."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from nyx.content import Item
from nyx.encoders.spec import EncoderSpec
from nyx.training import distributed
from nyx.training.checkpoint import seed_everything
from nyx.training.config import TrainConfig
from nyx.training.data import canonical_side, load_pairs
from nyx.training.embedders import TrainableEmbedder, build_embedder
from nyx.training.generation import TextGenerator, load_generator
from nyx.training.jsonl import iter_jsonl, write_jsonl
from nyx.training.search import RetrieverSearcher, Searcher
from nyx.training.trainer import ContrastiveTrainer, TrainResult

logger = logging.getLogger(__name__)


def run_contrastive(config: TrainConfig,
                    embedder: TrainableEmbedder | None = None) -> TrainResult:
    """Train on ``data.train`` (evaluating on ``data.dev`` when given); export the weights."""
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if not config.data.train:
        raise ValueError("data.train is empty: give a jsonl of {query, positive, negatives}")
    cache = out / "datasets-cache"
    train = load_pairs(config.data.train, config.data.image_root, config.data.max_examples,
                       cache_dir=cache)
    dev = load_pairs(config.data.dev, config.data.image_root, cache_dir=cache) \
        if config.data.dev else None
    distributed.init_from_environment()
    seed_everything(config.seed)  # before the model is built, so its initialisation is seeded
    embedder = embedder or build_embedder(config)
    trainer = ContrastiveTrainer(config, embedder, train, dev)
    result = trainer.train()
    summary: dict[str, Any] = {"state": asdict(result.state),
                               "exported": str(result.exported) if result.exported else None,
                               "first_loss": result.losses[0] if result.losses else None,
                               "last_loss": result.losses[-1] if result.losses else None}
    if dev is not None:
        summary["dev"] = trainer.evaluate()
        logger.info("dev: %s", summary["dev"])
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    return result


def run_nyxqa(config: TrainConfig, **tools: Any) -> dict[str, Any]:
    """The NyxQA pipeline into ``<output_dir>/nyxqa`` (``tools``: generator, searcher_factory,
    describer overrides)."""
    from nyx.training.nyxqa.pipeline import NyxQAPipeline

    pipeline = NyxQAPipeline(config.nyxqa, Path(config.output_dir) / "nyxqa",
                             seed=config.seed, **tools)
    return pipeline.run()


def load_documents(path: str | Path) -> dict[str, Item]:
    """A corpus jsonl (``{"id", "text"/"images"/"parts"}`` per line) as items by id."""
    path = Path(path)
    docs: dict[str, Item] = {}
    for n, record in enumerate(iter_jsonl(path), 1):
        if "id" not in record:
            raise ValueError(f"{path}:{n}: corpus documents need an 'id'")
        side = {k: v for k, v in record.items() if k in ("text", "images", "parts")}
        item = Item.from_dict({**canonical_side(side, path.parent, f"{path}:{n}"),
                               "id": str(record["id"]), "metadata": {}})
        docs[item.id] = item  # type: ignore[index]
    return docs


def feedback_encoder(config: TrainConfig) -> tuple[str, dict[str, Any]]:
    """The encoder that retrieves for feedback: ``feedback.encoder`` or the model being trained."""
    fb, model = config.feedback, config.model
    options = dict(fb.encoder_options)
    if fb.encoder:
        return fb.encoder, options
    if model.kind == "nyx-lite-projection":
        options.setdefault("ocr", False)
        return str(EncoderSpec("nyx-lite", model.init_from or "")), options
    if model.init_from:
        options.setdefault("adapter", model.init_from)
    return model.name, options


def run_feedback(config: TrainConfig, *, generator: TextGenerator | None = None,
                 searcher: Searcher | None = None) -> dict[str, Any]:
    """Label ``feedback.queries`` by generator feedback, then (optionally) train on the labels."""
    from nyx.training.feedback.labeling import FeedbackLabeler, LabelStats, feedback_pairs

    fb = config.feedback
    if not fb.queries or not fb.corpus:
        raise ValueError("feedback.queries and feedback.corpus must both be set")
    out = Path(config.output_dir) / "feedback"
    out.mkdir(parents=True, exist_ok=True)
    documents = load_documents(fb.corpus)
    queries = list(iter_jsonl(fb.queries))
    # Retriever and generator are built only when some query is not labelled yet.
    if FeedbackLabeler.pending(queries, out / "labelled.jsonl"):
        if searcher is None:
            spec, options = feedback_encoder(config)
            searcher = RetrieverSearcher.build(list(documents.values()), spec, options,
                                               mode=fb.search_mode)
        generator = generator or load_generator(fb.generator)
    labelled = FeedbackLabeler(fb, searcher, generator).label(  # type: ignore[arg-type]
        queries, out / "labelled.jsonl")
    stats = asdict(LabelStats.of(labelled))
    pairs = feedback_pairs(labelled, documents, fb)
    write_jsonl(out / "train.jsonl", pairs)
    summary: dict[str, Any] = {"labels": stats, "pairs": len(pairs)}
    (out / "stats.json").write_text(json.dumps(summary, indent=2))
    logger.info("feedback labels: %s", stats)
    if fb.train and pairs:
        config.data.train = str(out / "train.jsonl")
        summary["training"] = asdict(run_contrastive(config).state)
    return summary


def run_stage(config: TrainConfig) -> Any:
    """Run the config's stage; a JSON-able summary."""
    if config.stage == "contrastive":
        result = run_contrastive(config)
        summary: Any = {"steps": result.state.step, "first_loss": result.losses[:1],
                        "last_loss": result.losses[-1:], "exported": str(result.exported)}
    elif config.stage == "nyxqa":
        summary = run_nyxqa(config)
    else:
        summary = run_feedback(config)
    return summary
