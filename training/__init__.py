"""Nyx training: contrastive fine-tuning, the NyxQA data pipeline and feedback labelling.

Run it with ``nyx-train CONFIG.yaml`` (``python -m nyx.training.cli``); see ``training/configs/``.
"""

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

__all__ = [
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
    "build_embedder",
    "collate_pairs",
    "info_nce",
    "load_generator",
    "load_pairs",
    "hit_rates",
]
