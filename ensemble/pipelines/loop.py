"""Loop pipelines that decide when to retrieve: Self-RAG-style and FLARE.

Self-RAG (Asai et al., 2024) trains reflection tokens; here the same decisions are asked of
the generator as yes/no questions and read as P(yes): *retrieve?* (skip retrieval below
``retrieve_threshold``), *is this passage relevant?* (keep passages at or above
``relevance_threshold``, at least the most relevant one), then one answer per kept passage,
*is the answer supported?*; the answer with the highest
``P(relevant) + P(supported) + exp(-mean NLL)`` wins. An answer without tokens (no NLL) gets no
likelihood bonus, and an empty answer wins only when every answer is empty.

FLARE (Jiang et al., 2023): generate the answer sentence by sentence; a sentence containing
a token with probability below ``threshold`` is regenerated after retrieving with the
question plus that sentence with its low-probability tokens removed (masked).
"""

from __future__ import annotations

import math
import re
from typing import Any

from nyx.answer_metrics import normalize_answer
from nyx.ensemble.pipelines.base import Pipeline
from nyx.ensemble.prompts import extract_answer, truncate_words
from nyx.ensemble.types import Answer, Generation

__all__ = ["FlarePipeline", "SelfRagPipeline", "masked_query"]


class SelfRagPipeline(Pipeline):
    """Retrieve on demand, filter passages by judged relevance, pick the best supported answer."""


    def __init__(self, *args: Any, retrieve_threshold: float = 0.5,
                 relevance_threshold: float = 0.5, always_retrieve: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retrieve_threshold = retrieve_threshold
        self.relevance_threshold = relevance_threshold
        self.always_retrieve = always_retrieve

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        if not self.always_retrieve:
            need = self.yes_probability([self.judge_prompt(
                f"Question: {question}",
                "Do you need to look up documents to answer this question?")])[0]
            answer.add_step("decide_retrieval", p_retrieve=need)
            if need < self.retrieve_threshold:
                text, gen = self.answer_docs(answer, question, [], step="generate_closed_book")
                return self.finish(answer, text, gen, [])
        docs = self.retrieve(answer, question)
        relevance = self.yes_probability([self.judge_prompt(
            f"Passage: {truncate_words(d.text, self.max_words)}",
            f"Question: {question}\nIs the passage relevant to the "
            "question?") for d in docs])
        keep = [i for i, p in enumerate(relevance) if p >= self.relevance_threshold]
        keep = keep or [max(range(len(docs)), key=lambda i: (relevance[i], -i))]
        answer.add_step("relevance", p_relevant=relevance, kept=[docs[i].id for i in keep])
        gens = self.generate([self.prompt(question, [docs[i]]) for i in keep])
        texts = [extract_answer(g.text) for g in gens]
        support = self.yes_probability([self.judge_prompt(
            f"Passage: {truncate_words(docs[i].text, self.max_words)}",
            f"Question: {question}\nAnswer: {t}\nIs the answer "
            "supported by the passage?") for i, t in zip(keep, texts)])
        scores = [relevance[i] + s + _likelihood(g) for i, s, g in zip(keep, support, gens)]
        best = max(range(len(keep)),
                   key=lambda j: (bool(normalize_answer(texts[j])), scores[j], -j))
        answer.add_step("critique", answers=texts, p_supported=support, scores=scores,
                        chosen=docs[keep[best]].id)
        return self.finish(answer, texts[best], gens[best], [docs[keep[best]]])


def _likelihood(gen: Generation) -> float:
    """``exp(-mean NLL)`` in (0, 1]; 0 for a generation without tokens (nothing to trust)."""
    nll = gen.mean_nll
    return 0.0 if nll is None else math.exp(-nll)


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def masked_query(gen: Generation, threshold: float) -> str:
    """The generated text without its tokens of probability below ``threshold``."""
    kept = [tok for tok, lp in zip(gen.tokens, gen.token_logprobs)
            if math.exp(lp) >= threshold]
    return " ".join("".join(kept).split())


class FlarePipeline(Pipeline):
    """Active retrieval: regenerate uncertain sentences after retrieving for them."""


    def __init__(self, *args: Any, threshold: float = 0.4, max_sentences: int = 3,
                 initial_retrieval: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be a probability, got {threshold}")
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.initial_retrieval = initial_retrieval

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        docs = self.retrieve(answer, question) if self.initial_retrieval else []
        written, used = "", list(docs)
        logprobs: list[float] = []
        entropies: list[float] = []
        last: Generation | None = None
        for n in range(self.max_sentences):
            gen = self.generate([self.prompt(question, docs, closed_book=not docs,
                                             prefix=written)])[0]
            sentence, gen, more = _first_sentence(gen)
            low = [t for t, lp in zip(gen.tokens, gen.token_logprobs)
                   if math.exp(lp) < self.threshold]
            if low and sentence.strip():
                query = f"{question} {masked_query(gen, self.threshold)}".strip()
                docs = self.retrieve(answer, query)
                used += [d for d in docs if d.id not in {u.id for u in used}]
                regen = self.generate([self.prompt(question, docs, prefix=written)])[0]
                sentence, gen, more = _first_sentence(regen)
            answer.add_step("sentence", index=n, text=sentence, low_prob_tokens=low,
                            retrieved=bool(low))
            written = f"{written} {sentence.strip()}".strip() if written else sentence.strip()
            logprobs += gen.token_logprobs
            entropies += gen.token_entropies
            last = gen
            if not more or not sentence.strip():
                break
        assert last is not None
        text = extract_answer(written)
        merged = Generation(written, token_logprobs=logprobs, token_entropies=entropies)
        return self.finish(answer, text, merged, used)


def _first_sentence(gen: Generation) -> tuple[str, Generation, bool]:
    """Cut a generation after its first sentence, with the token statistics cut to match;
    the flag says whether more text followed (so the answer goes on)."""
    parts = _SENTENCE.split(gen.text.strip(), maxsplit=1)
    if len(parts) < 2:
        return gen.text, gen, False
    sentence = gen.text[:gen.text.index(parts[0]) + len(parts[0])]
    kept, offset = 0, 0
    for tok in gen.tokens:
        if offset >= len(sentence):
            break
        kept += 1
        offset += len(tok)
    return sentence, Generation(sentence, gen.tokens[:kept], gen.token_logprobs[:kept],
                                gen.token_entropies[:kept], gen.top_logprobs[:kept],
                                "sentence", gen.model), True
