"""RAG pipelines, all answering through ``run(question) -> Answer``."""

from __future__ import annotations

from ensemble.pipelines.agentic import AgenticPipeline
from ensemble.pipelines.base import Pipeline, System
from ensemble.pipelines.branching import ReplugPipeline, SurePipeline
from ensemble.pipelines.iterative import IterRetGenPipeline
from ensemble.pipelines.loop import FlarePipeline, SelfRagPipeline
from ensemble.pipelines.sequential import ClosedBookPipeline, SequentialPipeline

__all__ = ["AgenticPipeline", "ClosedBookPipeline", "FlarePipeline", "IterRetGenPipeline",
           "Pipeline", "ReplugPipeline", "SelfRagPipeline", "SequentialPipeline", "SurePipeline",
           "System"]
