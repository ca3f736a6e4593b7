"""Component types by name: ``{type: sequential}`` in a config -> the class, imported on use.

Like ``nyx.indexes.factory``, a plain name -> ``"module:Class"`` map: nothing registers itself
by being imported, and building one component imports only its own module. A class outside the
map (a benchmark's, a test's, yours) is named in a config as ``"module:Class"``, or declares a
short ``config_type`` and is handed to :class:`~nyx.ensemble.config.ConfigBuilder` as
``types=[...]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["COMPONENT_TYPES", "available_types", "component_class", "type_name"]

COMPONENT_TYPES: Mapping[str, str] = {
    # pipelines
    "sequential": "nyx.ensemble.pipelines.sequential:SequentialPipeline",
    "closed_book": "nyx.ensemble.pipelines.sequential:ClosedBookPipeline",
    "replug": "nyx.ensemble.pipelines.branching:ReplugPipeline",
    "sure": "nyx.ensemble.pipelines.branching:SurePipeline",
    "iter_retgen": "nyx.ensemble.pipelines.iterative:IterRetGenPipeline",
    "self_rag": "nyx.ensemble.pipelines.loop:SelfRagPipeline",
    "flare": "nyx.ensemble.pipelines.loop:FlarePipeline",
    "agentic": "nyx.ensemble.pipelines.agentic:AgenticPipeline",
    "ensemble": "nyx.ensemble.ensemble:Ensemble",
    # generators
    "transformers": "nyx.ensemble.generators.transformers_backend:TransformersGenerator",
    "openai": "nyx.ensemble.generators.openai_backend:OpenAIGenerator",
    "vllm": "nyx.ensemble.generators.vllm_backend:VLLMGenerator",
    "voting": "nyx.ensemble.generators.voting:VotingGenerator",
    # retrievers and rerankers
    "bm25": "nyx.ensemble.retrievers.bm25:BM25Retriever",
    "nyx": "nyx.ensemble.retrievers.nyx_retriever:NyxRetriever",
    "fused": "nyx.ensemble.retrievers.fused:FusedRetriever",
    "reranked": "nyx.ensemble.retrievers.fused:RerankedRetriever",
    "cross_encoder": "nyx.ensemble.rerankers.cross_encoder:CrossEncoderReranker",
    "llm_listwise": "nyx.ensemble.rerankers.llm_listwise:LLMListwiseReranker",
    # aggregators
    "majority_vote": "nyx.ensemble.aggregation.aggregators:MajorityVote",
    "entropy_vote": "nyx.ensemble.aggregation.aggregators:EntropyVote",
    "learned_selector": "nyx.ensemble.aggregation.selector:LearnedSelector",
    "selection": "nyx.ensemble.aggregation.aggregators:Selection",
    "generative_fusion": "nyx.ensemble.aggregation.aggregators:GenerativeFusion",
}


def extra_types(types: Iterable[type] | Mapping[str, type] | None) -> dict[str, type]:
    """``types=`` of a builder as ``{name: class}`` (classes name themselves by
    ``config_type``)."""
    if types is None:
        return {}
    if isinstance(types, Mapping):
        return dict(types)
    out = {}
    for cls in types:
        name = cls.__dict__.get("config_type")
        if not name:
            raise ValueError(f"{cls.__qualname__} declares no config_type; give it one or pass "
                             "types={name: class}")
        out[name] = cls
    return out


def available_types(extra: Mapping[str, type] | None = None) -> list[str]:
    return sorted({*COMPONENT_TYPES, *(extra or {})})


def component_class(name: Any, extra: Mapping[str, type] | None = None) -> type:
    """The class for ``{type: name}``: a name above, one of ``extra``, or ``"module:Class"``
    naming a component class of your own (a config file is code you chose to run)."""
    if extra and name in extra:
        return extra[name]
    target = COMPONENT_TYPES.get(name) if isinstance(name, str) else None
    if target is None and isinstance(name, str) and ":" in name:
        from nyx.ensemble.config import Configurable

        module, _, attr = name.partition(":")
        try:
            found = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"component type {name!r} cannot be imported: {error}") from None
        if not (isinstance(found, type) and issubclass(found, Configurable)):
            raise ValueError(f"{name!r} is not a component class (a Configurable)")
        return found
    if target is None:
        raise ValueError(f"unknown component type {name!r}; available: "
                         f"{available_types(extra)}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    return {target: name for name, target in COMPONENT_TYPES.items()}


def type_name(cls: type) -> str:
    """The config ``type`` of ``cls``: its entry in :data:`COMPONENT_TYPES`, else its own
    ``config_type``, else ``"module:Class"`` (which :func:`component_class` imports)."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    name = _names().get(path) or cls.__dict__.get("config_type")
    if name:
        return name
    if "<locals>" in cls.__qualname__:
        raise ValueError(f"{cls.__qualname__} is defined inside a function: give it a "
                         "config_type and pass it to the builder as types=[...]")
    return path
