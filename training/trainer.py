"""The contrastive training loop: batches, loss, accumulation, checkpoints, resume, evaluation.

Gradient accumulation sums gradients over micro-batches; each micro-batch draws its in-batch
negatives from itself (the usual scheme; it is not GradCache, so accumulation does not enlarge
the negative pool). Under torch.distributed each process sees its own slice of every epoch's
permutation, queries and documents are gathered across processes for the loss (each process
back-propagates the full gathered batch's loss into its own shard), and the gradients of the
trained parameters are summed before each optimizer step, giving the gradient one process would
compute on the concatenated batch (averaged instead with ``loss.gather_across_processes: false``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from nyx.training import distributed
from nyx.training.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from nyx.training.config import TrainConfig
from nyx.training.data import PairBatch, collate_pairs, to_item
from nyx.training.embedders.base import TrainableEmbedder
from nyx.training.evaluation import evaluate_embedder
from nyx.training.losses import MatryoshkaInfoNCE

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    state: TrainerState
    exported: Path | None
    losses: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)


class ContrastiveTrainer:
    """Trains ``embedder`` on pair records (a ``datasets.Dataset`` or a list of dicts)."""

    def __init__(self, config: TrainConfig, embedder: TrainableEmbedder, train_data: Any,
                 dev_data: Any = None) -> None:
        if len(train_data) == 0:
            raise ValueError(f"no training pairs in {config.data.train or 'the given data'}")
        self.config = config
        self.embedder = embedder
        self.train_data = train_data
        self.dev_data = dev_data
        self.output_dir = Path(config.output_dir)
        self.loss = MatryoshkaInfoNCE(config.loss.temperature, config.loss.matryoshka_dims,
                                      config.loss.matryoshka_weights,
                                      gather=config.loss.gather_across_processes)
        params = embedder.trainable_parameters()
        if not params:
            raise ValueError("the model has no trainable parameters; check model.adapter")
        opt = config.optim
        self.optimizer = torch.optim.AdamW(params, lr=opt.lr, weight_decay=opt.weight_decay)
        self.total_steps = self._total_steps()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.state = TrainerState()

    # -- schedule -----------------------------------------------------------------------------

    def micro_batches_per_epoch(self) -> int:
        per_process = math.ceil(len(self.train_data) / distributed.world_size())
        return math.ceil(per_process / self.config.optim.batch_size)

    def _total_steps(self) -> int:
        opt = self.config.optim
        if opt.max_steps is not None:
            return opt.max_steps
        return max(1, opt.epochs * self.micro_batches_per_epoch() // opt.grad_accum_steps)

    def _lr_factor(self, step: int) -> float:
        opt = self.config.optim
        if step < opt.warmup_steps:
            return (step + 1) / (opt.warmup_steps + 1)
        if opt.schedule == "constant":
            return 1.0
        progress = (step - opt.warmup_steps) / max(1, self.total_steps - opt.warmup_steps)
        progress = min(1.0, progress)
        if opt.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    def _order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        order = torch.randperm(len(self.train_data), generator=generator).tolist()
        return order[distributed.rank()::distributed.world_size()]

    def _micro_batches(self) -> Iterator[PairBatch]:
        size = self.config.optim.batch_size
        while True:
            order = self._order(self.state.epoch)
            for start in range(self.state.micro * size, len(order), size):
                rows = take_rows(self.train_data, order[start:start + size])
                self.state.micro += 1
                self.state.examples += len(rows)
                yield collate_pairs(rows, self.config.data.hard_negatives)
            self.state.epoch += 1
            self.state.micro = 0

    # -- loop ---------------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        device = self.embedder.device
        if device.type == "cuda" and self.config.optim.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def compute_loss(self, batch: PairBatch) -> Any:
        with self._autocast():
            queries = self.embedder.embed(batch.queries, is_query=True)
            documents = self.embedder.embed(batch.documents, is_query=False)
        device = queries.device
        return self.loss(queries, documents, batch.positives.to(device),
                         batch.doc_keys.to(device) if self.config.data.mask_false_negatives
                         else None, batch.positive_keys.to(device))

    def prepare(self) -> None:
        """Let the embedder cache frozen inputs of every training and dev item (once)."""
        items = []
        for data in (self.train_data, self.dev_data):
            for row in data or []:
                items.append(to_item(row["query"]))
                items.append(to_item(row["positive"]))
                items.extend(to_item(n) for n in row["negatives"][:self.config.data.hard_negatives])
        self.embedder.prepare(items, show_progress=distributed.is_main_process())

    def resume(self) -> bool:
        folder = latest_checkpoint(self.output_dir / "checkpoints")
        if folder is None or not self.config.checkpoint.resume:
            return False
        self.state = load_checkpoint(folder, self.embedder, self.optimizer, self.scheduler)
        return True

    def train(self) -> TrainResult:
        cfg = self.config
        if not self.resume():
            seed_everything(cfg.seed)
        self.prepare()
        self.embedder.train()
        result = TrainResult(self.state, None)
        main = distributed.is_main_process()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        metrics = (self.output_dir / "metrics.jsonl").open("a") if main else None
        batches = self._micro_batches()
        accum = cfg.optim.grad_accum_steps
        bar = tqdm(total=self.total_steps, initial=self.state.step, desc="nyx-train",
                   unit="step", disable=not main)
        try:
            while self.state.step < self.total_steps:
                started = time.perf_counter()
                loss_sum, per_dim = self._accumulate(batches, accum)
                lr = self._step()
                result.losses.append(loss_sum)
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum:.4f}")
                record = {"step": self.state.step, "epoch": self.state.epoch, "loss": loss_sum,
                          "per_dim": per_dim, "lr": lr,
                          "seconds": round(time.perf_counter() - started, 3)}
                if self._due(cfg.eval.every_steps) and self.dev_data is not None:
                    record["eval"] = self.evaluate()
                    result.evals.append(record["eval"])
                if metrics is not None:
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                if self._due(cfg.log_every_steps):
                    logger.info("step %d loss %.4f", self.state.step, loss_sum)
                if self._due(cfg.checkpoint.every_steps) and main:
                    self.save_checkpoint()
        finally:
            bar.close()
            if metrics is not None:
                metrics.close()
        if main:
            if not self._due(cfg.checkpoint.every_steps):  # else saved at this step already
                self.save_checkpoint()
            result.exported = self.embedder.export(self.output_dir / "final")
            logger.info("exported %s", result.exported)
        return result

    def _accumulate(self, batches: Iterator[PairBatch],
                    accum: int) -> tuple[float, dict[int, float]]:
        """Backward over ``accum`` micro-batches; returns their mean loss and per-dim losses."""
        loss_sum, per_dim = 0.0, {}
        for _ in range(accum):
            out = self.compute_loss(next(batches))
            if not out.loss.requires_grad:
                raise ValueError("this batch gives the trained parameters no gradient; a "
                                 "nyx-lite projection learns only from images, so its pairs "
                                 "need images")
            (out.loss / accum).backward()
            loss_sum += float(out.loss.detach()) / accum
            for dim, value in out.per_dim.items():
                per_dim[dim] = per_dim.get(dim, 0.0) + value / accum
        return loss_sum, per_dim

    def _due(self, every: int) -> bool:
        return every > 0 and self.state.step % every == 0

    def _step(self) -> float:
        """One optimizer step; returns the learning rate it used."""
        params = self.embedder.trainable_parameters()
        distributed.reduce_gradients(params, average=not self.loss.sums_gradients)
        if self.config.optim.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, self.config.optim.max_grad_norm)
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        return lr

    def save_checkpoint(self) -> Path:
        return save_checkpoint(self.output_dir / "checkpoints", self.embedder, self.optimizer,
                               self.scheduler, self.state, keep=self.config.checkpoint.keep)

    def evaluate(self, data: Any = None) -> dict[str, float]:
        rows = data if data is not None else self.dev_data
        return evaluate_embedder(self.embedder, list(rows), self.config.eval.ks,
                                 self.config.eval.batch_size)


def take_rows(data: Any, indices: list[int]) -> list[dict[str, Any]]:
    """Rows of a list of dicts, or of a ``datasets.Dataset`` in one batched (columnar) read."""
    if isinstance(data, list):
        return [data[i] for i in indices]
    columns = data[indices]
    return [dict(zip(columns, values)) for values in zip(*columns.values())]
