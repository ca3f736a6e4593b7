"""Nyx ensembles: generator, retriever and reranker modules, RAG pipelines, aggregation of
answers and rankings, and agent tools over a Nyx retriever.

>>> from nyx.ensemble import build
>>> system = build("benchmarks/configs/ensemble/squad.yaml", resources={"squad": corpus})
>>> system.run("Who was the NFL Commissioner in early 2012?").text
"""

from __future__ import annotations

from nyx.ensemble.aggregation import (
    EntropyVote,
    GenerativeFusion,
    MajorityVote,
    Selection,
    comb_mnz,
    comb_sum,
    entropy_weighted_fusion,
    entropy_weighted_vote,
    majority_vote,
    reciprocal_rank_fusion,
)
from nyx.ensemble.cache import DiskCache
from nyx.ensemble.config import build, load_config, save_config, to_config
from nyx.ensemble.ensemble import Ensemble
from nyx.ensemble.errors import (
    GeneratorError,
    GeneratorRequestError,
    GeneratorTimeoutError,
    GeneratorUnavailableError,
    ToolError,
)
from nyx.ensemble.generators import (
    GenerationConfig,
    Generator,
    OpenAIGenerator,
    TransformersGenerator,
    VLLMGenerator,
    VotingGenerator,
)
from nyx.ensemble.passages import Corpus
from nyx.ensemble.pipelines import (
    AgenticPipeline,
    ClosedBookPipeline,
    FlarePipeline,
    IterRetGenPipeline,
    Pipeline,
    ReplugPipeline,
    SelfRagPipeline,
    SequentialPipeline,
    SurePipeline,
)
from nyx.ensemble.rerankers import CrossEncoderReranker, LLMListwiseReranker
from nyx.ensemble.retrievers import BM25Retriever, FusedRetriever, NyxRetriever, RerankedRetriever
from nyx.ensemble.tools import SearchTool
from nyx.ensemble.types import Answer, Generation, RetrievedDoc, Step

__all__ = [
    "AgenticPipeline", "Answer", "BM25Retriever", "ClosedBookPipeline", "Corpus",
    "CrossEncoderReranker", "DiskCache", "Ensemble", "EntropyVote", "FlarePipeline",
    "FusedRetriever", "GenerationConfig", "Generation", "GenerativeFusion", "Generator",
    "GeneratorError", "GeneratorRequestError", "GeneratorTimeoutError",
    "GeneratorUnavailableError", "IterRetGenPipeline", "LLMListwiseReranker", "MajorityVote",
    "NyxRetriever", "OpenAIGenerator", "Pipeline", "ReplugPipeline", "RerankedRetriever",
    "RetrievedDoc", "SearchTool", "Selection", "SelfRagPipeline", "SequentialPipeline",
    "Step", "SurePipeline", "ToolError", "TransformersGenerator", "VLLMGenerator",
    "VotingGenerator", "build", "comb_mnz", "comb_sum", "entropy_weighted_fusion",
    "entropy_weighted_vote", "load_config", "majority_vote", "reciprocal_rank_fusion",
    "save_config", "to_config",
]
