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
from nyx.results import SearchResult

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
        return self._run_batch([question])[0]

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        """Sentence by sentence for every question still writing: one generation call for
        their next sentences, one retrieval call for the uncertain ones, one more generation
        call to rewrite those."""
        size = len(questions)
        answers = [Answer(q, "") for q in questions]
        docs: list[list[SearchResult]] = (self.retrieve_many(answers, questions)
                                          if self.initial_retrieval else [[] for _ in questions])
        used = [list(d) for d in docs]
        written = [""] * size
        logprobs: list[list[float]] = [[] for _ in questions]
        entropies: list[list[float]] = [[] for _ in questions]
        last: list[Generation | None] = [None] * size
        going = list(range(size))
        for n in range(self.max_sentences):
            if not going:
                break
            made = self.generate([self.prompt(questions[i], docs[i], closed_book=not docs[i],
                                              prefix=written[i]) for i in going])
            step = {i: _first_sentence(gen) for i, gen in zip(going, made)}
            low = {i: [t for t, lp in zip(step[i][1].tokens, step[i][1].token_logprobs)
                       if math.exp(lp) < self.threshold] for i in going}
            unsure = [i for i in going if low[i] and step[i][0].strip()]
            if unsure:
                queries = [f"{questions[i]} {masked_query(step[i][1], self.threshold)}".strip()
                           for i in unsure]
                for i, found in zip(unsure, self.retrieve_many([answers[i] for i in unsure],
                                                               queries)):
                    docs[i] = found
                    seen = {u.id for u in used[i]}
                    used[i] += [d for d in found if d.id not in seen]
                again = self.generate([self.prompt(questions[i], docs[i], prefix=written[i])
                                       for i in unsure])
                for i, regen in zip(unsure, again):
                    step[i] = _first_sentence(regen)
            still = []
            for i in going:
                sentence, gen, more = step[i]
                answers[i].add_step("sentence", index=n, text=sentence, low_prob_tokens=low[i],
                                    retrieved=bool(low[i]))
                written[i] = (f"{written[i]} {sentence.strip()}".strip() if written[i]
                              else sentence.strip())
                logprobs[i] += gen.token_logprobs
                entropies[i] += gen.token_entropies
                last[i] = gen
                if more and sentence.strip():
                    still.append(i)
            going = still
        out = []
        for i, answer in enumerate(answers):
            assert last[i] is not None
            merged = Generation(written[i], token_logprobs=logprobs[i],
                                token_entropies=entropies[i])
            out.append(self.finish(answer, extract_answer(written[i]), merged, used[i]))
        return out


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
