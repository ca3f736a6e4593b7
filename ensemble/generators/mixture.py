"""Token-level mixture decoding (REPLUG): one answer from a weighted mix of conditionals.

At each step every prompt (say, one per retrieved document) yields a next-token distribution
``p_i``; the token is chosen from ``p = sum_i w_i p_i`` and appended to every prompt, so the
documents vote token by token. One batched forward pass per step with a KV cache.
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

from nyx.ensemble.generators.base import GenerationConfig, apply_stop
from nyx.ensemble.types import Generation

if TYPE_CHECKING:
    from nyx.ensemble.generators.transformers_backend import TransformersGenerator

__all__ = ["mixture_decode", "sample_token"]



def sample_token(logprobs: Any, config: GenerationConfig, rng: Any) -> int:
    """Pick the next token from a log-probability vector: argmax, or temperature / top-k /
    top-p sampling."""
    import torch

    if config.greedy:
        return int(logprobs.argmax())
    scores = logprobs / config.temperature
    if config.top_k:
        kth = scores.topk(min(config.top_k, scores.numel())).values[-1]
        scores = scores.masked_fill(scores < kth, -math.inf)
    probs = scores.softmax(-1)
    if config.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < config.top_p
        filtered = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        probs = filtered / filtered.sum()
    return int(torch.multinomial(probs, 1, generator=rng))


def mixture_decode(gen: TransformersGenerator, texts: list[str], weights: list[float],
                   config: GenerationConfig) -> Generation:
    """Decode from the ``weights``-mixture of the model's distributions given each text."""
    import torch

    model, tok = gen._model, gen._tokenizer
    w = torch.tensor(weights, dtype=torch.float32)
    if (w < 0).any() or float(w.sum()) <= 0:
        raise ValueError(f"mixture weights must be non-negative with a positive sum: {weights}")
    log_w = (w / w.sum()).log().to(gen.device)[:, None]
    enc = gen._encode(texts)
    input_ids, mask = enc["input_ids"], enc["attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    eos = {tok.eos_token_id, *_ids(model.generation_config.eos_token_id)}
    rng = torch.Generator().manual_seed(config.seed) if config.seed is not None else None
    ids: list[int] = []
    logprobs: list[float] = []
    entropies: list[float] = []
    tops: list[dict[str, float]] = []
    finish, past = "length", None
    # Recent transformers renamed the KV-cache argument and output ``past_key_values`` -> ``cache``.
    cache_arg = ("cache" if "cache" in inspect.signature(model.forward).parameters
                 else "past_key_values")
    with torch.inference_mode():
        for _ in range(config.max_new_tokens):
            out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                        use_cache=True, **{cache_arg: past})
            past = getattr(out, cache_arg)
            step = out.logits[:, -1].float().log_softmax(-1)
            mixed = torch.logsumexp(step + log_w, dim=0).cpu()
            token = sample_token(mixed, config, rng)
            if token in eos:
                finish = "stop"
                break
            ids.append(token)
            logprobs.append(float(mixed[token]))
            entropies.append(float(-(mixed.exp() * mixed).sum()))
            if config.top_logprobs > 0:
                values, index = mixed.topk(config.top_logprobs)
                tops.append({tok.decode([i]): v for i, v in zip(index.tolist(), values.tolist())})
            if config.stop and any(s in tok.decode(ids) for s in config.stop):
                finish = "stop"
                break
            input_ids = torch.full((len(texts), 1), token, device=gen.device)
            mask = torch.cat([mask, mask.new_ones((len(texts), 1))], dim=1)
            positions = positions[:, -1:] + 1
    tokens = gen.token_strings(ids)
    text, kept, _ = apply_stop("".join(tokens), tokens, config.stop)
    return Generation(text=text, tokens=tokens[:kept], token_logprobs=logprobs[:kept],
                      token_entropies=entropies[:kept], top_logprobs=tops[:kept],
                      finish_reason=finish, model=gen.model)


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
