"""Feedback labels: a retrieved document is positive when the generator, reading it, answers the
question correctly (SQuAD EM, or token F1 at or above a threshold), else a hard negative.

Input queries are jsonl lines with ``query`` (text), ``answers`` (gold strings) and optionally
``id`` and ``positive_id`` (the original positive's document id in the corpus). The labelled
jsonl keeps every retrieved document with the generator's answer and scores, for inspection;
:func:`feedback_pairs` turns it into training pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nyx.content import Item
from nyx.training.config import FeedbackConfig
from nyx.training.feedback.answers import judge
from nyx.training.generation import TextGenerator
from nyx.training.jsonl import ResumableJsonl
from nyx.training.search import Searcher

logger = logging.getLogger(__name__)

MAX_CONTEXT_WORDS = 150


def answer_prompt(question: str, document: Item) -> Any:
    """Few-shot short-answer chat messages (``nyx.ensemble.prompts``) with one document as input."""
    from nyx.ensemble.prompts import qa_prompt, truncate_words

    return qa_prompt(question, context=truncate_words(document.text, MAX_CONTEXT_WORDS))


def query_id(record: Mapping[str, Any], line: int) -> str:
    return str(record.get("id") or record.get("qa_id") or f"line-{line}")


class FeedbackLabeler:
    """Retrieves top-k per query, asks the generator once per document, judges the answers."""

    def __init__(self, config: FeedbackConfig, searcher: Searcher,
                 generator: TextGenerator, batch_queries: int = 4) -> None:
        self.config = config
        self.searcher = searcher
        self.generator = generator
        self.batch_queries = batch_queries

    def label(self, queries: Sequence[Mapping[str, Any]], output: str | Path) -> list[dict]:
        """Write one labelled line per query to ``output`` (resumable); return all lines."""
        cfg = self.config
        with ResumableJsonl(output, key=lambda r: r["id"]) as out:
            todo = [(query_id(r, n), r) for n, r in enumerate(queries, 1)]
            todo = [(qid, r) for qid, r in todo if not out.done(qid)]
            for start in tqdm(range(0, len(todo), self.batch_queries), desc="feedback: label",
                              disable=not todo):
                batch = todo[start:start + self.batch_queries]
                for _, record in batch:
                    self._check(record)
                prompts, owners = [], []
                results = self.searcher([r["query"] for _, r in batch], cfg.k)
                for b, ((_, record), hits) in enumerate(zip(batch, results)):
                    for hit in hits:
                        if hit.document is None:
                            raise ValueError(f"search hit {hit.id} carries no document; the "
                                             "searcher must return documents to read")
                        prompts.append(answer_prompt(record["query"], hit.document))
                        owners.append((b, hit))
                # No newline stop: SmolLM2 sometimes opens with a newline, and a stop there
                # leaves an empty answer. extract_answer takes the first non-empty line.
                answers = self.generator(prompts, max_new_tokens=cfg.max_new_tokens)
                retrieved: list[list[dict[str, Any]]] = [[] for _ in batch]
                for (b, hit), answer in zip(owners, answers):
                    record = batch[b][1]
                    verdict = judge(_short(answer), record["answers"], cfg.metric,
                                    cfg.threshold)
                    retrieved[b].append({
                        "id": hit.id, "rank": len(retrieved[b]) + 1, "score": hit.score,
                        "answer": _short(answer), "raw": answer, "em": verdict.em,
                        "f1": round(verdict.f1, 4), "positive": verdict.positive,
                        "is_gold": hit.id == record.get("positive_id")})
                for (qid, record), docs in zip(batch, retrieved):
                    out.write(_labelled(qid, record, docs))
            return list(out.records)

    @staticmethod
    def pending(queries: Sequence[Mapping[str, Any]], output: str | Path) -> int:
        """How many queries ``label`` would still process (0: no retriever/generator needed)."""
        path = Path(output)
        done = set()
        if path.is_file():
            with ResumableJsonl(path, key=lambda r: r["id"]) as existing:
                done = {r["id"] for r in existing.records}
        return sum(query_id(r, n) not in done for n, r in enumerate(queries, 1))

    @staticmethod
    def _check(record: Mapping[str, Any]) -> None:
        if not record.get("answers"):
            raise ValueError(f"query {record.get('query')!r} has no gold 'answers'; feedback "
                             "labelling needs them")


def _short(answer: str) -> str:
    from nyx.ensemble.prompts import extract_answer

    return extract_answer(answer)


def _labelled(qid: str, record: Mapping[str, Any], docs: list[dict[str, Any]]) -> dict:
    gold = record.get("positive_id")
    gold_hit = next((d for d in docs if d["is_gold"]), None)
    return {"id": qid, "query": record["query"], "answers": list(record["answers"]),
            "positive_id": gold, "retrieved": docs,
            "n_positive": sum(d["positive"] for d in docs),
            "gold_retrieved": gold_hit is not None,
            "gold_judged_positive": bool(gold_hit and gold_hit["positive"]),
            "extra_positives": sum(d["positive"] and not d["is_gold"] for d in docs)}


def relabel(line: Mapping[str, Any], metric: str, threshold: float) -> dict[str, Any]:
    """A labelled line judged again under another metric/threshold (scores are stored)."""
    if metric not in ("em", "f1"):
        raise ValueError(f"metric must be 'em' or 'f1', got {metric!r}")
    docs = [{**d, "positive": bool(d["answer"]) and d[metric] >= threshold}
            for d in line["retrieved"]]
    return _labelled(line["id"], line, docs)


def feedback_pairs(labelled: Sequence[Mapping[str, Any]], documents: Mapping[str, Item],
                   config: FeedbackConfig) -> list[dict[str, Any]]:
    """Training pairs from labelled lines: one line per positive, the judged negatives shared.

    ``gold_policy`` decides what happens to the original positive (see :class:`FeedbackConfig`).
    """
    pairs = []
    for line in labelled:
        gold = line.get("positive_id")
        positives = [d["id"] for d in line["retrieved"] if d["positive"]]
        negatives = [d["id"] for d in line["retrieved"] if not d["positive"]
                     and not (config.gold_never_negative and d["id"] == gold)]
        if gold is not None and gold in documents and (
                config.gold_policy == "keep" or (config.gold_policy == "fallback"
                                                 and not positives)):
            positives = list(dict.fromkeys([gold, *positives]))
        for pid in positives:
            pairs.append({"query": line["query"], "positive": documents[pid].to_dict(),
                          "negatives": [documents[n].to_dict() for n in negatives],
                          "answers": line["answers"], "id": f"{line['id']}::{pid}",
                          "positive_id": pid, "negative_ids": negatives})
    return pairs


@dataclass
class LabelStats:
    queries: int
    gold_retrieved: float
    gold_judged_positive: float
    gold_positive_when_retrieved: float
    queries_with_a_positive: float
    extra_positives_per_query: float
    queries_with_extra_positives: float
    positives_per_query: float

    @classmethod
    def of(cls, labelled: Sequence[Mapping[str, Any]]) -> LabelStats:
        n = max(1, len(labelled))
        retrieved = [r for r in labelled if r["gold_retrieved"]]
        return cls(
            queries=len(labelled),
            gold_retrieved=sum(r["gold_retrieved"] for r in labelled) / n,
            gold_judged_positive=sum(r["gold_judged_positive"] for r in labelled) / n,
            gold_positive_when_retrieved=(sum(r["gold_judged_positive"] for r in retrieved)
                                          / max(1, len(retrieved))),
            queries_with_a_positive=sum(r["n_positive"] > 0 for r in labelled) / n,
            extra_positives_per_query=sum(r["extra_positives"] for r in labelled) / n,
            queries_with_extra_positives=sum(r["extra_positives"] > 0 for r in labelled) / n,
            positives_per_query=sum(r["n_positive"] for r in labelled) / n,
        )
