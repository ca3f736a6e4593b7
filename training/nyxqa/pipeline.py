"""The NyxQA-style pipeline: chunks -> sample -> generate -> refine -> filter -> mine -> split.

Every stage writes an inspectable jsonl under the output folder, one line per unit of work
(rejected candidates included, with their reason), and skips units whose line already exists,
so an interrupted run resumes where it stopped. The final ``train.jsonl`` / ``dev.jsonl`` are
training pairs for ``nyx-train`` (plus ``answers`` and optional multiple-choice ``options``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from nyx.content import Item
from nyx.training.config import NyxQAConfig
from nyx.training.generation import TextGenerator, load_generator
from nyx.training.jsonl import ResumableJsonl, read_jsonl, write_jsonl
from nyx.training.nyxqa.distractors import make_distractors
from nyx.training.nyxqa.filters import RuleFilter, refine
from nyx.training.nyxqa.questions import (
    Describer,
    chunk_context,
    lite_describer,
    parse_qa_pairs,
    qa_generation_prompt,
    refine_prompt,
)
from nyx.training.nyxqa.sampling import load_chunks, sample_by_modality
from nyx.training.search import RetrieverSearcher, Searcher, ranks_window

logger = logging.getLogger(__name__)

SearcherFactory = Callable[[list[Item]], Searcher]
BATCH = 8


class NyxQAPipeline:
    """Runs the stages in order; pass ``generator``/``searcher_factory``/``describer`` to
    replace the defaults (SmolLM2, a nyx-lite retriever, nyx-lite image descriptions)."""

    def __init__(self, config: NyxQAConfig, output_dir: str | Path, *, seed: int = 0,
                 generator: TextGenerator | None = None,
                 searcher_factory: SearcherFactory | None = None,
                 describer: Describer | None = None) -> None:
        if not config.corpus:
            raise ValueError("nyxqa.corpus is empty: point it at a folder of documents")
        self.config = config
        self.out = Path(output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.seed = seed
        self._generator = generator
        self._searcher_factory = searcher_factory
        self._describer = describer
        self._chunks: dict[str, Item] = {}

    # -- lazily built tools -------------------------------------------------------------------

    @property
    def generator(self) -> TextGenerator:
        if self._generator is None:
            self._generator = load_generator(self.config.generator)
        return self._generator

    def describer(self) -> Describer | None:
        if self._describer is None and self.config.describe_images:
            from nyx.encoders.lite import NyxLite

            self._describer = lite_describer(NyxLite(device="cpu"))
        return self._describer

    def searcher(self, items: list[Item]) -> Searcher:
        if self._searcher_factory is not None:
            return self._searcher_factory(items)
        return RetrieverSearcher.build(items, self.config.miner_encoder,
                                       self.config.miner_options, mode="dense")

    # -- stages -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self.chunk_stage()
        sampled = self.sample_stage()
        self.generate_stage(sampled)
        self.refine_stage()
        self.filter_stage()
        self.mine_stage()
        return self.split_stage()

    def chunk_stage(self) -> dict[str, Item]:
        path = self.out / "chunks.jsonl"
        if path.is_file():
            items = [Item.from_dict(r["item"]) for r in read_jsonl(path)]
        else:
            items = load_chunks(self.config.corpus, self.config.max_words)
            write_jsonl(path, ({"chunk_id": i.id, "modality": i.modality, "item": i.to_dict()}
                               for i in items))
        self._chunks = {str(i.id): i for i in items}
        return self._chunks

    def sample_stage(self) -> list[Item]:
        path = self.out / "sampled.jsonl"
        if path.is_file():
            return [self._chunks[r["chunk_id"]] for r in read_jsonl(path)]
        cfg = self.config
        sampled = sample_by_modality(list(self._chunks.values()), cfg.modality_mix,
                                     cfg.num_samples, self.seed)
        write_jsonl(path, ({"chunk_id": i.id, "modality": i.modality} for i in sampled))
        return sampled

    def generate_stage(self, sampled: Sequence[Item]) -> None:
        cfg = self.config
        with ResumableJsonl(self.out / "generated.jsonl", key=lambda r: r["chunk_id"]) as out:
            todo = [i for i in sampled if not out.done(str(i.id))]
            for start in tqdm(range(0, len(todo), BATCH), desc="nyxqa: generate",
                              disable=not todo):
                batch = todo[start:start + BATCH]
                describer = self.describer() if any(i.images for i in batch) else None
                contexts = [chunk_context(i, describer) for i in batch]
                raws = self.generator([qa_generation_prompt(c, cfg.questions_per_chunk)
                                       for c in contexts], max_new_tokens=cfg.max_new_tokens)
                for item, context, raw in zip(batch, contexts, raws):
                    pairs = parse_qa_pairs(raw, cfg.questions_per_chunk)
                    out.write({"chunk_id": item.id, "modality": item.modality,
                               "context": context, "raw": raw, "pairs": pairs})

    def refine_stage(self) -> None:
        cfg = self.config
        candidates = []
        for record in read_jsonl(self.out / "generated.jsonl"):
            for n, pair in enumerate(record["pairs"]):
                candidates.append({"qa_id": f"{record['chunk_id']}::q{n}",
                                   "chunk_id": record["chunk_id"], **pair})
        with ResumableJsonl(self.out / "refined.jsonl", key=lambda r: r["qa_id"]) as out:
            todo = [c for c in candidates if not out.done(c["qa_id"])]
            for start in range(0, len(todo), BATCH):
                batch = todo[start:start + BATCH]
                answers = [c["answer"] for c in batch]
                if cfg.refine_with_generator:
                    answers = self._shorten(batch, answers)
                for cand, answer in zip(batch, answers):
                    question, short, verdict = refine(cand["question"], answer,
                                                      cfg.max_answer_words)
                    out.write({"qa_id": cand["qa_id"], "chunk_id": cand["chunk_id"],
                               "question": question, "answer": short,
                               "raw_answer": cand["answer"], "kept": verdict.kept,
                               "reason": verdict.reason})

    def _shorten(self, batch: list[dict[str, Any]], answers: list[str]) -> list[str]:
        long = [i for i, a in enumerate(answers) if len(a.split()) > self.config.max_answer_words]
        if long:
            outs = self.generator([refine_prompt(batch[i]["question"], answers[i])
                                   for i in long], max_new_tokens=16, stop=["\n"])
            for i, text in zip(long, outs):
                answers[i] = text or answers[i]
        return answers

    def filter_stage(self) -> None:
        cfg = self.config
        contexts = {r["chunk_id"]: r["context"] for r in read_jsonl(self.out /
                                                                     "generated.jsonl")}
        rules = RuleFilter(cfg.min_question_words, cfg.max_question_words,
                           cfg.max_answer_words, cfg.extractive, cfg.min_grounding)
        with ResumableJsonl(self.out / "filtered.jsonl", key=lambda r: r["qa_id"]) as out:
            for record in out.records:
                if record["kept"]:
                    rules.remember(record["question"])
            for cand in read_jsonl(self.out / "refined.jsonl"):
                if not cand["kept"] or out.done(cand["qa_id"]):
                    continue
                verdict = rules.check(cand["question"], cand["answer"],
                                      contexts[cand["chunk_id"]])
                out.write({**cand, "kept": verdict.kept, "reason": verdict.reason})

    def mine_stage(self) -> None:
        first, last = self.config.negative_ranks
        kept = [r for r in read_jsonl(self.out / "filtered.jsonl") if r["kept"]]
        with ResumableJsonl(self.out / "mined.jsonl", key=lambda r: r["qa_id"]) as out:
            todo = [r for r in kept if not out.done(r["qa_id"])]
            if not todo:
                return
            search = self.searcher(list(self._chunks.values()))
            for start in tqdm(range(0, len(todo), 32), desc="nyxqa: mine negatives"):
                batch = todo[start:start + 32]
                for record, hits in zip(batch, search([r["question"] for r in batch], last)):
                    window = ranks_window(hits, first, last, exclude=[record["chunk_id"]])
                    out.write({"qa_id": record["qa_id"], "chunk_id": record["chunk_id"],
                               "positive_rank": next((n for n, h in enumerate(hits, 1)
                                                      if h.id == record["chunk_id"]), None),
                               "negative_ids": [h.id for h in window]})

    def split_stage(self) -> dict[str, Any]:
        cfg = self.config
        kept = {r["qa_id"]: r for r in read_jsonl(self.out / "filtered.jsonl") if r["kept"]}
        mined = {r["qa_id"]: r for r in read_jsonl(self.out / "mined.jsonl")} if (
            self.out / "mined.jsonl").is_file() else {}
        pool = [r["answer"] for r in kept.values()]
        splits: dict[str, list[dict[str, Any]]] = {"train": [], "dev": []}
        for qa_id, record in kept.items():
            chunk = self._chunks[record["chunk_id"]]
            negatives = mined.get(qa_id, {}).get("negative_ids", [])
            line = {"query": record["question"], "positive": chunk.to_dict(),
                    "negatives": [self._chunks[n].to_dict() for n in negatives],
                    "answers": [record["answer"]], "qa_id": qa_id,
                    "chunk_id": record["chunk_id"], "negative_ids": negatives}
            if cfg.distractors:
                line["options"] = make_distractors(record["answer"], pool, cfg.distractors,
                                                   seed=qa_id)
            splits["dev" if _in_dev(record["chunk_id"], cfg.dev_fraction, self.seed)
                   else "train"].append(line)
        for name, lines in splits.items():
            write_jsonl(self.out / f"{name}.jsonl", lines)
        summary = self.summary(splits)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def summary(self, splits: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        refined = read_jsonl(self.out / "refined.jsonl")
        filtered = read_jsonl(self.out / "filtered.jsonl")
        generated = read_jsonl(self.out / "generated.jsonl")
        return {
            "chunks": len(self._chunks),
            "sampled": len(generated),
            "sampled_by_modality": dict(Counter(r["modality"] for r in generated)),
            "generated_pairs": len(refined),
            "refine_rejections": dict(Counter(r["reason"] for r in refined if not r["kept"])),
            "filter_rejections": dict(Counter(r["reason"] for r in filtered if not r["kept"])),
            "kept": sum(r["kept"] for r in filtered),
            "train": len(splits["train"]), "dev": len(splits["dev"]),
        }


def _in_dev(chunk_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{chunk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
