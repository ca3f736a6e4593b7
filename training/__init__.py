"""Nyx training: contrastive fine-tuning, the NyxQA data pipeline, feedback labelling, and
``nyx-index adapt`` (an index's text encoder adapted to its own passages).

Run it with ``nyx-train CONFIG.yaml`` (``python -m nyx.training.cli``); see ``training/configs/``.
The names below load on first use (PEP 562): importing ``nyx.training`` (as ``nyx-index`` does
to find the ``adapt`` command) imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nyx.indexes.lazy import lazy_exports

_HOMES = {
    "AdaptConfig": "nyx.training.adapt",
    "AdaptReport": "nyx.training.adapt",
    "AdapterConfig": "nyx.training.config",
    "ContrastiveTrainer": "nyx.training.trainer",
    "DataConfig": "nyx.training.config",
    "FeedbackConfig": "nyx.training.config",
    "LossConfig": "nyx.training.config",
    "MatryoshkaInfoNCE": "nyx.training.losses",
    "ModelConfig": "nyx.training.config",
    "NyxQAConfig": "nyx.training.config",
    "OptimConfig": "nyx.training.config",
    "PairBatch": "nyx.training.data",
    "RetrieverSearcher": "nyx.training.search",
    "Searcher": "nyx.training.search",
    "TextGenerator": "nyx.training.generation",
    "TrainConfig": "nyx.training.config",
    "TrainResult": "nyx.training.trainer",
    "TrainableEmbedder": "nyx.training.embedders",
    "adapt": "nyx.training.adapt",
    "build_embedder": "nyx.training.embedders",
    "collate_pairs": "nyx.training.data",
    "hit_rates": "nyx.training.evaluation",
    "info_nce": "nyx.training.losses",
    "load_generator": "nyx.training.generation",
    "load_pairs": "nyx.training.data",
    "undo_adapt": "nyx.training.adapt",
}

__all__ = [
    "AdaptConfig",
    "AdaptReport",
    "AdapterConfig",
    "ContrastiveTrainer",
    "DataConfig",
    "FeedbackConfig",
    "LossConfig",
    "MatryoshkaInfoNCE",
    "ModelConfig",
    "NyxQAConfig",
    "OptimConfig",
    "PairBatch",
    "Searcher",
    "RetrieverSearcher",
    "TextGenerator",
    "TrainConfig",
    "TrainResult",
    "TrainableEmbedder",
    "adapt",
    "build_embedder",
    "collate_pairs",
    "info_nce",
    "load_generator",
    "load_pairs",
    "hit_rates",
    "undo_adapt",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())

if TYPE_CHECKING:
    from nyx.training.adapt import AdaptConfig, AdaptReport, adapt, undo_adapt
    from nyx.training.config import (
        AdapterConfig,
        DataConfig,
        FeedbackConfig,
        LossConfig,
        ModelConfig,
        NyxQAConfig,
        OptimConfig,
        TrainConfig,
    )
    from nyx.training.data import PairBatch, collate_pairs, load_pairs
    from nyx.training.embedders import TrainableEmbedder, build_embedder
    from nyx.training.evaluation import hit_rates
    from nyx.training.generation import TextGenerator, load_generator
    from nyx.training.losses import MatryoshkaInfoNCE, info_nce
    from nyx.training.search import RetrieverSearcher, Searcher
    from nyx.training.trainer import ContrastiveTrainer, TrainResult
