"""Generator backends: local transformers (default SmolLM2), OpenAI-compatible HTTP, vLLM."""

from __future__ import annotations

from nyx.ensemble.generators.base import GenerationConfig, Generator
from nyx.ensemble.generators.openai_backend import OpenAIGenerator
from nyx.ensemble.generators.transformers_backend import TransformersGenerator
from nyx.ensemble.generators.vllm_backend import VLLMGenerator
from nyx.ensemble.generators.voting import VotingGenerator

__all__ = ["GenerationConfig", "Generator", "OpenAIGenerator", "TransformersGenerator",
           "VLLMGenerator", "VotingGenerator"]
