"""RAG pipelines, all answering through ``run(question) -> Answer``."""

from __future__ import annotations

from nyx.ensemble.pipelines.agentic import AgenticPipeline
from nyx.ensemble.pipelines.base import Pipeline, System
from nyx.ensemble.pipelines.branching import ReplugPipeline, SurePipeline
from nyx.ensemble.pipelines.iterative import IterRetGenPipeline
from nyx.ensemble.pipelines.loop import FlarePipeline, SelfRagPipeline
from nyx.ensemble.pipelines.sequential import ClosedBookPipeline, SequentialPipeline

__all__ = ["AgenticPipeline", "ClosedBookPipeline", "FlarePipeline", "IterRetGenPipeline",
           "Pipeline", "ReplugPipeline", "SelfRagPipeline", "SequentialPipeline", "SurePipeline",
           "System"]
