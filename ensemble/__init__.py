"""Nyx ensembles: generator, retriever and reranker modules, RAG pipelines, aggregation of
answers and rankings, and agent tools over a Nyx retriever.

>>> from nyx.ensemble import Corpus, build
>>> corpus = Corpus({"p1": "Roger Goodell was the NFL Commissioner in early 2012."})
>>> system = build("benchmarks/configs/ensemble/squad.yaml", {"corpus": corpus},
...                component="sequential")
>>> system.run("Who was the NFL Commissioner in early 2012?").text
'Roger Goodell'
"""

from __future__ import annotations

from nyx.indexes.lazy import lazy_exports

# Public names load on first use (PEP 562): importing one module of the package (the config
# builder, say) imports no other component.
_HOMES = {
    "AgenticPipeline": "nyx.ensemble.pipelines",
    "Answer": "nyx.ensemble.types",
    "BM25Retriever": "nyx.ensemble.retrievers",
    "ClosedBookPipeline": "nyx.ensemble.pipelines",
    "Corpus": "nyx.ensemble.passages",
    "CrossEncoderReranker": "nyx.ensemble.rerankers",
    "DiskCache": "nyx.ensemble.cache",
    "Ensemble": "nyx.ensemble.ensemble",
    "EntropyVote": "nyx.ensemble.aggregation",
    "FlarePipeline": "nyx.ensemble.pipelines",
    "FusedRetriever": "nyx.ensemble.retrievers",
    "Generation": "nyx.ensemble.types",
    "GenerationConfig": "nyx.ensemble.generators",
    "GenerativeFusion": "nyx.ensemble.aggregation",
    "LearnedSelector": "nyx.ensemble.aggregation",
    "Generator": "nyx.ensemble.generators",
    "GeneratorError": "nyx.ensemble.errors",
    "GeneratorRequestError": "nyx.ensemble.errors",
    "GeneratorTimeoutError": "nyx.ensemble.errors",
    "GeneratorUnavailableError": "nyx.ensemble.errors",
    "IterRetGenPipeline": "nyx.ensemble.pipelines",
    "LLMListwiseReranker": "nyx.ensemble.rerankers",
    "MajorityVote": "nyx.ensemble.aggregation",
    "NyxRetriever": "nyx.ensemble.retrievers",
    "OpenAIGenerator": "nyx.ensemble.generators",
    "Pipeline": "nyx.ensemble.pipelines",
    "ReplugPipeline": "nyx.ensemble.pipelines",
    "RerankedRetriever": "nyx.ensemble.retrievers",
    "SearchTool": "nyx.ensemble.tools",
    "Selection": "nyx.ensemble.aggregation",
    "SelfRagPipeline": "nyx.ensemble.pipelines",
    "SequentialPipeline": "nyx.ensemble.pipelines",
    "Step": "nyx.ensemble.types",
    "SurePipeline": "nyx.ensemble.pipelines",
    "ToolError": "nyx.ensemble.errors",
    "TransformersGenerator": "nyx.ensemble.generators",
    "VLLMGenerator": "nyx.ensemble.generators",
    "VotingGenerator": "nyx.ensemble.generators",
    "build": "nyx.ensemble.config",
    "comb_mnz": "nyx.ensemble.aggregation",
    "comb_sum": "nyx.ensemble.aggregation",
    "entropy_weighted_fusion": "nyx.ensemble.aggregation",
    "entropy_weighted_vote": "nyx.ensemble.aggregation",
    "load_config": "nyx.ensemble.config",
    "majority_vote": "nyx.ensemble.aggregation",
    "reciprocal_rank_fusion": "nyx.ensemble.aggregation",
    "save_config": "nyx.ensemble.config",
    "to_config": "nyx.ensemble.config",
}

__all__ = [
    "AgenticPipeline", "Answer", "BM25Retriever", "ClosedBookPipeline", "Corpus",
    "CrossEncoderReranker", "DiskCache", "Ensemble", "EntropyVote", "FlarePipeline",
    "FusedRetriever", "GenerationConfig", "Generation", "GenerativeFusion", "Generator",
    "GeneratorError", "GeneratorRequestError", "GeneratorTimeoutError",
    "GeneratorUnavailableError", "IterRetGenPipeline", "LearnedSelector", "LLMListwiseReranker",
    "MajorityVote",
    "NyxRetriever", "OpenAIGenerator", "Pipeline", "ReplugPipeline", "RerankedRetriever",
    "SearchTool", "Selection", "SelfRagPipeline", "SequentialPipeline",
    "Step", "SurePipeline", "ToolError", "TransformersGenerator", "VLLMGenerator",
    "VotingGenerator", "build", "comb_mnz", "comb_sum", "entropy_weighted_fusion",
    "entropy_weighted_vote", "load_config", "majority_vote", "reciprocal_rank_fusion",
    "save_config", "to_config",
]


__getattr__, __dir__ = lazy_exports("nyx.ensemble", _HOMES, globals())
