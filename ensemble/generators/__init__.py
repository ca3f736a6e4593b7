"""Generator backends: local transformers (default SmolLM2), OpenAI-compatible HTTP, vLLM."""

from __future__ import annotations

from ensemble.generators.base import GenerationConfig, Generator
from ensemble.generators.openai_backend import OpenAIGenerator
from ensemble.generators.transformers_backend import TransformersGenerator
from ensemble.generators.vllm_backend import VLLMGenerator
from ensemble.generators.voting import VotingGenerator

__all__ = ["GenerationConfig", "Generator", "OpenAIGenerator", "TransformersGenerator",
           "VLLMGenerator", "VotingGenerator"]
