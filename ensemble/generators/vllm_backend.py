"""vLLM in-process generation (GPU). Optional: ``pip install 'nyx-retrieval[vllm]'``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache
from nyx.ensemble.generators.base import (
    GenerationConfig,
    Generator,
    apply_stop,
    entropy_from_top_logprobs,
)
from nyx.ensemble.types import Generation, Message, as_messages

logger = logging.getLogger(__name__)

__all__ = ["VLLMGenerator", "import_vllm"]

VLLM_HINT = "pip install 'nyx-retrieval[vllm]'"


def import_vllm() -> Any:
    """The ``vllm`` module, or an ImportError naming the extra to install."""
    try:
        import vllm
    except ImportError as error:
        raise ImportError(f"the vLLM generator needs vllm and a GPU: `{VLLM_HINT}` "
                          f"(CPU-only machines: use the transformers backend)") from error
    return vllm


class VLLMGenerator(Generator):
    """Batched generation with ``vllm.LLM``; the model loads on first use.

    Entropies are estimated from the top-``top_logprobs`` alternatives vLLM returns per step
    (see :func:`~nyx.ensemble.generators.base.entropy_from_top_logprobs`).
    """

    volatile_fields: ClassVar[tuple[str, ...]] = (*Generator.volatile_fields,
                                                   "gpu_memory_utilization")

    def __init__(self, model: str, *, dtype: str = "auto", gpu_memory_utilization: float = 0.8,
                 max_model_len: int | None = None,
                 generation: GenerationConfig | Mapping[str, Any] | None = None,
                 cache: DiskCache | None = None) -> None:
        super().__init__(generation, cache)
        self.model = model
        self.dtype = dtype
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_model_len = max_model_len
        self._llm: Any = None

    def load(self) -> Any:
        if self._llm is None:
            vllm = import_vllm()
            kwargs: dict[str, Any] = {"dtype": self.dtype,
                                      "gpu_memory_utilization": self.gpu_memory_utilization}
            if self.max_model_len:
                kwargs["max_model_len"] = self.max_model_len
            self._llm = vllm.LLM(self.model, **kwargs)
        return self._llm

    def _generate(self, prompts: list[str | list[Message]],
                  config: GenerationConfig) -> list[Generation]:
        vllm = import_vllm()
        llm = self.load()
        params = vllm.SamplingParams(
            max_tokens=config.max_new_tokens, temperature=config.temperature,
            top_p=config.top_p, top_k=config.top_k or -1, stop=list(config.stop) or None,
            seed=config.seed, logprobs=max(config.top_logprobs, 1))
        tokenizer = llm.get_tokenizer()
        texts = [p if isinstance(p, str) else _chat_text(tokenizer, p) for p in prompts]
        outputs = llm.generate(texts, params, use_tqdm=False)
        return [self._record(out.outputs[0], config) for out in outputs]

    def _record(self, completion: Any, config: GenerationConfig) -> Generation:
        tokens, logprobs, entropies, tops = [], [], [], []
        for token_id, step in zip(completion.token_ids, completion.logprobs or []):
            chosen = step.get(token_id)
            top = {(lp.decoded_token or ""): lp.logprob for lp in step.values()}
            tokens.append(chosen.decoded_token if chosen is not None else "")
            logprobs.append(chosen.logprob if chosen is not None else -math.inf)
            entropies.append(entropy_from_top_logprobs(top))
            tops.append(top)
        text, kept, stopped = apply_stop(completion.text, tokens, config.stop)
        return Generation(text=text, tokens=tokens[:kept], token_logprobs=logprobs[:kept],
                          token_entropies=entropies[:kept], top_logprobs=tops[:kept],
                          finish_reason="stop" if stopped else (completion.finish_reason or ""),
                          model=self.model)


def _chat_text(tokenizer: Any, prompt: list[Message]) -> str:
    messages = as_messages(prompt)
    cont = messages[-1]["role"] == "assistant"
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=not cont,
                                         continue_final_message=cont)
