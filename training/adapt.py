"""``nyx-index adapt``: teach nyx-lite's text tower the language of one index (GPL-style).

From the index's own passages, with no real question and nothing downloaded:

1. **pseudo-queries** (:mod:`nyx.training.pseudo_queries`): a sentence or a span of words from
   sampled passages; a share of them is held out to choose the fusion weight;
2. **labels**: each training query is searched with the index as it is (hybrid: BM25 and the
   current dense model, so the candidates are hard negatives of both kinds), and its
   candidates are scored by the shipped cross-encoder *blended with the first stage* (the
   reranking :meth:`nyx.Retriever.search` does with ``rerank=True``): the teacher;
3. **training**: low-rank adapters on MiniLM (:mod:`nyx.training.text_lora`) learn the teacher's
   distribution over each query's candidates, the other queries' candidates in the batch
   being further negatives (soft-target cross-entropy); optionally (``cloze``) the passage a
   query was drawn from is shown without the query's words (inverse cloze);
4. **re-embedding**: every passage is embedded with the adapted tower, the fused weight of the
   dense side is re-chosen on the held-out pseudo-queries (labelled by the cross-encoder over
   the dense and the lexical top hits), and the index is saved as a new generation whose
   encoder options name the adapter (``text-adapter/<checksum>.safetensors`` inside it).

Each stage writes its result under ``IDX/adapt-work/`` and a run that is interrupted resumes
where it stopped (training from its last checkpoint). ``undo`` re-embeds with the plain tower
as a new generation. The index is never changed until the last step's atomic commit.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nyx.encoders.text_adapter import ADAPTER_FOLDER, write_adapter
from nyx.hybrid import HybridConfig
from nyx.ids import SEPARATOR, document_id
from nyx.indexes.atomic import atomic_write_bytes
from nyx.metrics import ndcg_at_k
from nyx.retriever import Retriever
from nyx.training.pseudo_queries import QUERY_KINDS, PseudoQuery, make_query

logger = logging.getLogger(__name__)

__all__ = ["WORK_FOLDER", "AdaptConfig", "AdaptReport", "adapt", "undo_adapt"]

#: the cross-encoder that labels the pseudo-queries and re-chooses the fused weight: 256 tokens
#: of each passage's head, the setting every adapt number in the README was measured with (the
#: library's cross-encoder reads the window around the query's words since; adapt has not been
#: measured with it)
TEACHER_MAX_LENGTH = 256

#: Where an adaptation keeps its stages (inside the index folder; removed when it commits).
WORK_FOLDER = "adapt-work"
#: Dense weights tried when re-choosing the fusion (plus the index's own).
WEIGHT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass
class AdaptConfig:
    """Settings of one adaptation; all of them are recorded in the adapter file."""

    #: pseudo-queries to make (at most one per passage); ``holdout`` of them choose the fusion
    queries: int = 1000
    query_kind: str = "sentence"
    holdout: float = 0.1
    #: candidates per query that the teacher scores (hybrid top hits). 5: the same held-out
    #: dense gain as 6 on New-Wiki (+0.028) in 17.1 min instead of 20.5 (Amazon, where it was
    #: chosen: +0.033 against +0.037 in 19.8 min instead of 21.9)
    candidates: int = 5
    #: share of the source passages shown in training without the query's own words (inverse
    #: cloze: the passage must be found by its context, not by a verbatim match). 0 by
    #: default: 0.9 (with lr 1e-3 and 4 candidates) lost 0.023 dense nDCG@10 on Amazon reviews
    cloze: float = 0.0
    #: passages are cut to this many tokens while training (inference keeps 256)
    train_tokens: int = 128
    epochs: int = 1
    batch_queries: int = 16
    rank: int = 8
    alpha: float = 16.0
    #: BERT layers (from the top) that get adapters; the rest run without a backward pass.
    #: 3, chosen on Amazon reviews: dense +0.037 in 21.9 min against +0.027 in 25.8 min with
    #: all 6; held out on New-Wiki +0.028 in 20.5 min against +0.034 in 23.8 min
    layers: int = 3
    lr: float = 5e-4
    #: temperature of the teacher's blended scores (in [0, 1]) and the student's scale
    teacher_temperature: float = 0.1
    student_scale: float = 20.0
    seed: int = 0
    checkpoint_every: int = 20

    def __post_init__(self) -> None:
        if self.query_kind not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {self.query_kind!r}; choose one of "
                             f"{', '.join(QUERY_KINDS)}")
        for name in ("queries", "candidates", "epochs", "batch_queries", "rank", "layers",
                     "train_tokens", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"adapt {name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.cloze <= 1.0:
            raise ValueError(f"adapt cloze must be in [0, 1], got {self.cloze!r}")
        if not 0.0 < self.holdout < 0.5:
            raise ValueError(f"adapt holdout must be in (0, 0.5), got {self.holdout!r}")


@dataclass
class AdaptReport:
    """What an adaptation did and cost."""

    adapter: str
    generation: str
    queries: int
    held_out: int
    pairs_labelled: int
    steps: int
    dense_weight_before: float
    dense_weight_after: float
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- stage files ------------------------------------------------------------------------------

def _write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, json.dumps(value).encode())


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _make_queries(r: Retriever, config: AdaptConfig) -> list[PseudoQuery]:
    rng = random.Random(config.seed)
    ids = sorted(r.store.ids())
    rng.shuffle(ids)
    out: list[PseudoQuery] = []
    for start in range(0, len(ids), 512):
        if len(out) >= config.queries:
            break
        for doc in r.store.get_many(ids[start:start + 512], skip_missing=True):
            text = make_query(str(doc.payload.get("text", "")), config.query_kind, rng) \
                if doc is not None else ""
            if text and len(out) < config.queries:
                out.append(PseudoQuery(f"q{len(out)}", text, doc.id))
    if len(out) < 20:
        raise ValueError(f"adapt needs text passages to draw queries from: found {len(out)} "
                         "(an index of images or of a few documents cannot be adapted)")
    return out


def _label(r: Retriever, queries: list[PseudoQuery], config: AdaptConfig,
           path: Path, show_progress: bool) -> list[dict[str, Any]]:
    """Candidates and teacher scores per training query, appended to ``path`` as JSON lines
    (a resumed run keeps the complete lines)."""
    from tqdm.auto import tqdm

    from nyx.hits import blend_scores
    from nyx.rerank import DEFAULT_RERANK_BLEND, CrossEncoder

    done: list[dict[str, Any]] = []
    if path.is_file():
        kept = 0  # bytes of complete lines
        with open(path, "rb") as f:
            for line in f:
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("no end of line")
                    done.append(json.loads(line))
                except ValueError:
                    break  # a line cut by a crash: label it again
                kept += len(line)
        with open(path, "r+b") as f:  # new rows go after the complete ones, not the torn one
            f.truncate(kept)
    todo = queries[len(done):]
    if not todo:
        return done
    reranker = CrossEncoder(max_length=TEACHER_MAX_LENGTH, passage_window="head")
    mode = "hybrid" if r.lexical is not None else "dense"
    with open(path, "a", encoding="utf-8") as out, \
            tqdm(total=len(queries), initial=len(done), desc="adapt: labelling",
                 unit="query", disable=not show_progress) as bar:
        for start in range(0, len(todo), 32):
            batch = todo[start:start + 32]
            results = r.search([q.text for q in batch], k=config.candidates, mode=mode,
                               group="chunk")
            for q, hits in zip(batch, results):
                if not hits:
                    continue
                first = np.array([h.score for h in hits], dtype=np.float64)
                cross = reranker.score(q.text, [h.text for h in hits]).astype(np.float64)
                teacher = blend_scores(first, cross, DEFAULT_RERANK_BLEND)
                row = {"qid": q.qid, "query": q.text, "source": q.source,
                       "ids": [h.id for h in hits],
                       "teacher": [round(float(t), 6) for t in teacher]}
                out.write(json.dumps(row) + "\n")
                done.append(row)
            out.flush()
            os.fsync(out.fileno())
            bar.update(len(batch))
    return done


def _train(r: Retriever, labels: list[dict[str, Any]], config: AdaptConfig, work: Path,
           show_progress: bool) -> tuple[Any, int]:
    """Train the adapters; resumes from ``work/checkpoint.safetensors``."""
    import torch
    from safetensors.torch import load_file, save_file
    from tqdm.auto import tqdm

    from nyx.training.text_lora import LoraTextTower

    torch.manual_seed(config.seed)
    tower = LoraTextTower(config.rank, config.alpha, config.layers)
    tower.tokenizer.enable_truncation(max_length=config.train_tokens)
    optimizer = torch.optim.AdamW(tower.trainable(), lr=config.lr, weight_decay=0.0)
    rng = random.Random(config.seed + 1)
    order = [i for _ in range(config.epochs) for i in rng.sample(range(len(labels)),
                                                                 len(labels))]
    steps = [order[s:s + config.batch_queries]
             for s in range(0, len(order), config.batch_queries)]
    total = len(steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, total // 10)) * max(0.0, 1 - s / total))
    start = 0
    checkpoint, state_file = work / "checkpoint.safetensors", work / "checkpoint.json"
    state = _read_json(state_file)
    if checkpoint.is_file() and state is not None:
        tensors = load_file(str(checkpoint))
        tower.load_adapter_state({k[len("lora."):]: v for k, v in tensors.items()
                                  if k.startswith("lora.")})
        optimizer.load_state_dict(_optimizer_state(optimizer, tensors, state["optimizer"]))
        schedule.load_state_dict(state["schedule"])
        start = int(state["step"])
        logger.info("adapt: resuming training at step %d of %d", start, total)
    texts = _passage_texts(r, labels)
    tower.train()
    with tqdm(total=total, initial=start, desc="adapt: training", unit="step",
              disable=not show_progress) as bar:
        for step in range(start, total):
            torch.manual_seed(config.seed + step)  # dropout: the same after a resume
            rows = [labels[i] for i in steps[step]]
            hide = random.Random(config.seed * 1_000_003 + step)
            passages = [_cloze(texts[d], row["query"]) if document_id(d) == row.get("source")
                        and hide.random() < config.cloze else texts[d]
                        for row in rows for d in row["ids"]]
            q = tower([row["query"] for row in rows])
            p = tower(passages)
            logits = config.student_scale * (q @ p.T)
            target = torch.zeros_like(logits)
            col = 0
            for i, row in enumerate(rows):
                t = torch.tensor(row["teacher"], dtype=torch.float32)
                target[i, col:col + len(t)] = torch.softmax(t / config.teacher_temperature, 0)
                col += len(t)
            loss = -(target * torch.log_softmax(logits, dim=1)).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update(1)
            if (step + 1) % config.checkpoint_every == 0 and step + 1 < total:
                tensors, meta = _optimizer_tensors(optimizer)
                tensors.update({f"lora.{k}": v for k, v in tower.adapter_state().items()})
                tmp = checkpoint.with_name(checkpoint.name + ".tmp")
                save_file(tensors, str(tmp))
                os.replace(tmp, checkpoint)
                _write_json(state_file, {"step": step + 1, "optimizer": meta,
                                         "schedule": schedule.state_dict()})
    return tower, total


def _cloze(passage: str, query: str) -> str:
    """``passage`` without the words ``query`` was drawn from (when it holds them)."""
    flat = " ".join(passage.split())
    return flat.replace(query, " ", 1) if query in flat else passage


def _optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """AdamW's state as safetensors tensors plus JSON (no pickle in the work folder)."""
    sd = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    meta: dict[str, Any] = {"param_groups": sd["param_groups"], "steps": {}}
    for key, value in sd["state"].items():
        for name, tensor in value.items():
            if name == "step":
                meta["steps"][str(key)] = float(tensor)
            else:
                tensors[f"opt.{key}.{name}"] = tensor.contiguous()
    return tensors, meta


def _optimizer_state(optimizer: Any, tensors: dict[str, Any],
                     meta: dict[str, Any]) -> dict[str, Any]:
    import torch

    state: dict[int, dict[str, Any]] = {}
    for key, step in meta["steps"].items():
        state[int(key)] = {"step": torch.tensor(step),
                           **{name: tensors[f"opt.{key}.{name}"]
                              for name in ("exp_avg", "exp_avg_sq")}}
    return {"state": state, "param_groups": meta["param_groups"]}


def _passage_texts(r: Retriever, labels: list[dict[str, Any]]) -> dict[str, str]:
    """The embedded text of every candidate (a chunk's own text for chunked documents)."""
    ids = sorted({d for row in labels for d in row["ids"]})
    out: dict[str, str] = {}
    for start in range(0, len(ids), 512):
        chunk = ids[start:start + 512]
        for vid, item in zip(chunk, r.get([document_id(v) for v in chunk])):
            if item is None:
                out[vid] = ""
                continue
            pieces = r.pieces(item)
            index = _piece_of(vid)
            out[vid] = pieces[min(index, len(pieces) - 1)].text if pieces else item.text
    return out


def _piece_of(vector_id: str) -> int:
    head, sep, tail = vector_id.rpartition(SEPARATOR)
    return int(tail) if sep and tail.isdigit() else 0


def _choose_weight(r: Retriever, held: list[PseudoQuery], current: float) -> float:
    """The dense weight whose hybrid ranks the cross-encoder's best passage highest on the
    held-out pseudo-queries (nDCG@10); the pool the cross-encoder judges is the dense and the
    lexical top 10, so it favours neither side."""
    from nyx.rerank import CrossEncoder

    if r.lexical is None or not held:
        return current
    reranker = CrossEncoder(max_length=TEACHER_MAX_LENGTH, passage_window="head")
    texts = [q.text for q in held]
    dense = r.search(texts, k=10, mode="dense", group="chunk")
    lexical = r.search(texts, k=10, mode="lexical", group="chunk")
    relevant: list[dict[str, int]] = []
    for q, a, b in zip(held, dense, lexical):
        pool = {h.id: h.text for h in [*a, *b]}
        ids = list(pool)
        scores = reranker.score(q.text, [pool[i] for i in ids])
        relevant.append({ids[int(np.argmax(scores))]: 1} if ids else {})
    base = r.hybrid
    best, best_score = current, -1.0
    for weight in sorted({current, *WEIGHT_GRID}):
        r.hybrid = HybridConfig(**{**base.to_dict(), "dense_weight": weight})
        ranked = r.search(texts, k=10, mode="hybrid", group="chunk")
        score = float(np.mean([ndcg_at_k([h.id for h in hits], rel, 10)
                               for hits, rel in zip(ranked, relevant)]))
        logger.info("adapt: dense weight %.2f -> held-out pseudo-query nDCG@10 %.4f",
                    weight, score)
        if score > best_score + 1e-9 or (abs(score - best_score) <= 1e-9 and weight == current):
            best, best_score = weight, score
    r.hybrid = HybridConfig(**{**base.to_dict(), "dense_weight": best})
    return best


def _check_adaptable(r: Retriever, path: Path) -> None:
    spec, _ = r.encoder_spec()
    if spec != "nyx-lite":
        raise ValueError(f"{path} was built with {spec!r}; `nyx-index adapt` adapts nyx-lite's "
                         "text tower only")


def adapt(path: str | os.PathLike[str], config: AdaptConfig | None = None, *,
          show_progress: bool = False) -> AdaptReport:
    """Adapt the index folder ``path`` to its own passages (see the module's docstring) and
    save it as a new generation; returns what was done and what it cost."""
    import torch

    config = config or AdaptConfig()
    root = Path(path)
    work = root / WORK_FOLDER
    seconds: dict[str, float] = {}
    threads = torch.get_num_threads()
    r = Retriever.load(root)
    try:
        _check_adaptable(r, root)
        work.mkdir(exist_ok=True)
        settings = {"config": asdict(config), "generation": r.loaded_from[1]
                    if r.loaded_from else None}
        previous = _read_json(work / "run.json")
        if previous is not None and previous != settings:
            logger.info("adapt: settings or index changed since the interrupted run; "
                        "starting again")
            shutil.rmtree(work)
            work.mkdir()
        _write_json(work / "run.json", settings)
        weight_before = r.hybrid.dense_weight

        t = time.perf_counter()
        stored = _read_json(work / "queries.json")
        if stored is None:
            queries = _make_queries(r, config)
            _write_json(work / "queries.json", [asdict(q) for q in queries])
        else:
            queries = [PseudoQuery(**q) for q in stored]
        held_n = max(1, int(round(len(queries) * config.holdout)))
        held, train = queries[:held_n], queries[held_n:]
        seconds["queries"] = time.perf_counter() - t

        t = time.perf_counter()
        labels = _label(r, train, config, work / "labels.jsonl", show_progress)
        seconds["labels"] = time.perf_counter() - t

        t = time.perf_counter()
        tower, steps = _train(r, labels, config, work, show_progress)
        seconds["training"] = time.perf_counter() - t
        torch.set_num_threads(threads)

        t = time.perf_counter()
        staging = work / "adapter"
        info = {"base": "all-MiniLM-L6-v2", "steps": steps, "queries": len(train),
                "config": asdict(config), "dense_weight_before": weight_before}
        file = write_adapter(staging / ADAPTER_FOLDER, tower.factors(), tower.scale, info)
        del tower
        from nyx.encoders import load_encoder

        relative = f"{ADAPTER_FOLDER}/{file.name}"
        encoder = load_encoder("nyx-lite", root=staging,
                               **{**r.encoder_spec()[1], "text_adapter": relative})
        r.reembed(encoder, show_progress=show_progress)
        seconds["re-embedding"] = time.perf_counter() - t

        t = time.perf_counter()
        weight_after = _choose_weight(r, held, weight_before)
        seconds["fusion weight"] = time.perf_counter() - t
        committed = r.save(root)
        shutil.rmtree(work, ignore_errors=True)
        return AdaptReport(relative, committed.name, len(train), len(held),
                           sum(len(row["ids"]) for row in labels), steps, weight_before,
                           weight_after, {k: round(v, 1) for k, v in seconds.items()})
    finally:
        r.close()


def undo_adapt(path: str | os.PathLike[str], *, show_progress: bool = False) -> str:
    """Re-embed the index with the plain text tower as a new generation (the fusion weight
    goes back to the default); returns the generation's name."""
    from nyx.encoders import load_encoder

    r = Retriever.load(path)
    try:
        _check_adaptable(r, Path(path))
        options = r.encoder_spec()[1]
        if options.pop("text_adapter", None) is None:
            raise ValueError(f"{path} is not adapted: nothing to undo")
        adapter = getattr(r.encoder, "text_adapter", None)
        weight = adapter.info.get("dense_weight_before") if adapter is not None else None
        r.reembed(load_encoder("nyx-lite", **options), show_progress=show_progress)
        r.hybrid = HybridConfig(**{**r.hybrid.to_dict(), "dense_weight": float(
            weight if weight is not None else HybridConfig().dense_weight)})
        return r.save(path).name
    finally:
        r.close()
