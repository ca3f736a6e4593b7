"""Branching pipelines: REPLUG (token-level mixture over documents) and SuRe.

REPLUG (Shi et al., 2023): one branch per retrieved passage; the next-token distributions
are mixed with weights ``softmax(score / temperature)`` and decoded token by token (the
transformers backend's :meth:`generate_mixture`). Backends without a mixture decoder fall
back to one answer per branch and a weighted vote with the same weights.

SuRe (Kim et al., 2024): candidate answers, one summary of the passages conditioned on each
candidate, then selection by the summaries' validity (P(yes) that the summary supports its
candidate) plus a pairwise preference between summaries. A small model writes poor candidate
lists, so candidates here are the answers from all passages and from each top passage alone
(distinct after SQuAD normalisation, at most ``n_candidates``).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from nyx.answer_metrics import normalize_answer
from nyx.ensemble.aggregation.answers import weighted_vote
from nyx.ensemble.pipelines.base import Pipeline, softmax
from nyx.ensemble.prompts import extract_answer, format_documents
from nyx.ensemble.types import Answer, Generation, Message
from nyx.results import SearchResult

__all__ = ["ReplugPipeline", "SurePipeline"]


class ReplugPipeline(Pipeline):
    """Mixture decoding over one prompt per passage (``temperature`` scales the scores)."""


    def __init__(self, *args: Any, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def _run(self, question: str) -> Answer:
        return self._run_batch([question])[0]

    def _run_batch(self, questions: list[str]) -> list[Answer]:
        """One retrieval call for every question, then every question's mixture decoded
        together (or, without a mixture decoder, every branch in one generation call)."""
        answers = [Answer(q, "") for q in questions]
        found = self.retrieve_many(answers, questions)
        weights = [softmax([d.score for d in docs], self.temperature) for docs in found]
        prompts = [[self.prompt(q, [d]) for d in docs] for q, docs in zip(questions, found)]
        if self.generator.supports_mixture:
            gens = self.generator.generate_mixtures(list(zip(prompts, weights)),
                                                    max_new_tokens=self.max_new_tokens,
                                                    stop=["\n"])
            mode = "token_mixture"
        else:
            flat = self.generate([p for group in prompts for p in group])
            gens, start = [], 0
            for group, w in zip(prompts, weights):
                branches = flat[start:start + len(group)]
                start += len(group)
                vote = weighted_vote([extract_answer(g.text) for g in branches], w)
                gens.append(branches[vote.index])
            mode = "branch_vote"
        out = []
        for answer, docs, w, gen in zip(answers, found, weights, gens):
            text = extract_answer(gen.text)
            answer.add_step("mixture", mode=mode, weights=w, raw=gen.text, answer=text,
                            mean_entropy=gen.mean_entropy)
            out.append(self.finish(answer, text, gen, docs))
        return out


class SurePipeline(Pipeline):
    """Summarised retrieval: candidates, conditional summaries, validity + pairwise choice."""


    def __init__(self, *args: Any, n_candidates: int = 2, summary_tokens: int = 40,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
        self.n_candidates = n_candidates
        self.summary_tokens = summary_tokens

    def _run(self, question: str) -> Answer:
        answer = Answer(question, "")
        docs = self.retrieve(answer, question)
        candidates = self._candidates(question, docs)
        answer.add_step("candidates", answers=[c[0] for c in candidates])
        if len(candidates) == 1:
            return self.finish(answer, candidates[0][0], candidates[0][1], docs)
        summaries = self._summaries(question, docs, [c[0] for c in candidates])
        validity = self.yes_probability([
            self.judge_prompt(f"Summary: {s}", f"Question: {question}\nDoes the summary "
                              f"support the answer \"{c}\"?")
            for (c, _), s in zip(candidates, summaries)])
        pairwise = self._pairwise(question, summaries)
        scores = [v + p for v, p in zip(validity, pairwise)]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        answer.add_step("select", summaries=summaries, validity=validity, pairwise=pairwise,
                        chosen=best)
        return self.finish(answer, candidates[best][0], candidates[best][1], docs)

    def _candidates(self, question: str, docs: list[SearchResult]
                    ) -> list[tuple[str, Generation]]:
        prompts = [self.prompt(question, docs)]
        prompts += [self.prompt(question, [d]) for d in docs[:self.n_candidates]]
        found: dict[str, tuple[str, Generation]] = {}
        for gen in self.generate(prompts):
            text = extract_answer(gen.text)
            key = normalize_answer(text)
            if key and key not in found:
                found[key] = (text, gen)
        if not found:  # every branch wrote nothing usable: keep the all-passage answer
            gen = self.generate(prompts[:1])[0]
            return [(extract_answer(gen.text), gen)]
        return list(found.values())[:self.n_candidates]

    def _summaries(self, question: str, docs: list[SearchResult],
                   candidates: list[str]) -> list[str]:
        passages = format_documents(docs, self.max_words)
        prompts: list[str | list[Message]] = []
        for c in candidates:
            body = (f"{passages}\n\nQuestion: {question}\nAnswer: {c}\nIn one sentence, "
                    "summarize what the passages say that supports this answer.")
            prompts.append([{"role": "user", "content": body}] if self.style == "chat"
                           else f"{body}\nSummary:")
        gens = self.generate(prompts, max_new_tokens=self.summary_tokens)
        return [g.text.strip() for g in gens]

    def _pairwise(self, question: str, summaries: list[str]) -> list[float]:
        """Each summary's mean preference over the others (P("1") vs P("2"))."""
        n = len(summaries)
        pairs = list(combinations(range(n), 2))
        prompts = []
        for i, j in pairs:
            body = (f"Question: {question}\nSummary 1: {summaries[i]}\nSummary 2: "
                    f"{summaries[j]}\nWhich summary is more informative and better supported?")
            prompts.append([{"role": "user", "content": f"{body} Answer 1 or 2."}]
                           if self.style == "chat" else f"{body}\nAnswer (1 or 2):")
        options = ["1", "2"] if self.style == "chat" else [" 1", " 2"]
        scores = self.generator.option_logprobs(prompts, options) if prompts else []
        totals = [0.0] * n
        for (i, j), s in zip(pairs, scores):
            p1 = softmax([s[options[0]], s[options[1]]])[0]
            totals[i] += p1
            totals[j] += 1.0 - p1
        return [t / max(n - 1, 1) for t in totals]
