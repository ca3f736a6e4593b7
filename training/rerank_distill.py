"""Distil a layer-dropped student of the shipped cross-encoder (``model="student-l6"``).

The teacher is the pinned int8 ms-marco-MiniLM-L-12-v2 of :mod:`nyx.rerank`; the student keeps
``--layers`` of its 12 layers (weights dequantised from the same file,
:mod:`nyx.rerank_weights`) and learns a tiny delta on top of them: the biases and LayerNorms
(BitFit) and, with ``--rank`` > 0, LoRA factors on every attention and FFN matrix. The only
labels are the teacher's logits on (question, first-stage candidate) pairs written by
``nyx-bench rerank-pairs`` (the ``train`` splits of SQuADShifts Amazon and New-Wiki; never
SQuAD-dev, the held-out evaluation); gold answers are not read. The loss is MSE between the
student's and the teacher's logits plus a listwise KL over each question's candidates.
Runs on CPU with torch (2 threads: about 20 minutes for 12k pairs); writes the delta as
safetensors (``nyx/data/rerank/student-l6.safetensors``, pinned in :mod:`nyx.rerank_student`).

    python -m nyx.training.rerank_distill reports/rerank-pairs/*-train.jsonl \\
        --layers 0,2,4,6,8,10 --rank 8 --out nyx/data/rerank/student-l6.safetensors
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from nyx.training.jsonl import read_jsonl

logger = logging.getLogger(__name__)

__all__ = ["teacher_labels", "train_student"]


def teacher_labels(path: Path, depth: int) -> np.ndarray:
    """The shipped teacher's logits [questions, depth] for the pairs in ``path``; cached in
    ``path`` + ``.teacher.npy`` (the int8 teacher takes ~30 ms a pair)."""
    from nyx.rerank import CrossEncoder

    cache = path.with_name(path.name + f".teacher{depth}.npy")
    if cache.exists():
        return np.load(cache)
    teacher = CrossEncoder(num_threads=2).load()
    rows = read_jsonl(path)
    start = time.perf_counter()
    labels = np.stack([teacher.score(r["query"], r["passages"][:depth]) for r in rows])
    logger.info("teacher scored %d pairs of %s in %.0f s", labels.size, path,
                time.perf_counter() - start)
    np.save(cache, labels)
    return labels


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", type=Path, help="rerank-pairs jsonl (train splits)")
    parser.add_argument("--depth", type=int, default=20, help="candidates per question")
    parser.add_argument("--questions", type=int, default=0, help="per file (0: all)")
    parser.add_argument("--label-only", action="store_true")
    parser.add_argument("--layers", default="0,2,4,6,8,10", help="teacher layers kept")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (0: BitFit only)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    labels = [teacher_labels(p, args.depth) for p in args.pairs]
    if args.label_only:
        return 0
    train_student(args, labels)
    return 0


LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


def _lora_linear(base: Any, rank: int, alpha: float) -> Any:
    """``base`` (a frozen ``nn.Linear``) plus a trainable low-rank update ``B @ A``."""
    import torch
    from torch import nn

    class LoraLinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base
            self.lora_a = nn.Parameter(torch.randn(rank, base.in_features) / base.in_features**0.5)
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
            self.scale = alpha / rank

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    return LoraLinear()


def student_model(layers: list[int], rank: int) -> tuple[Any, dict[str, np.ndarray]]:
    """The torch student (BitFit parameters trainable, LoRA on every matrix with ``rank``
    > 0) and its initial fp32 weights (the teacher's kept layers)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from nyx.rerank import default_reranker_dir
    from nyx.rerank_student import select_layers
    from nyx.rerank_weights import dequantized_weights, weights_shape

    init = select_layers(dequantized_weights(default_reranker_dir() / "model.onnx"), layers)
    model = BertForSequenceClassification(BertConfig(**weights_shape(init).config()))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()}, strict=False)
    for name, param in model.named_parameters():
        param.requires_grad = param.ndim == 1 or name.startswith("classifier.")
    if rank:
        for layer in model.bert.encoder.layer:
            for target in LORA_TARGETS:
                parent_name, _, leaf = target.rpartition(".")
                parent = layer.get_submodule(parent_name)
                setattr(parent, leaf, _lora_linear(getattr(parent, leaf), rank, 2.0 * rank))
    return model, init


def delta_of(model: Any, init: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The trained delta of ``model`` over ``init`` in :mod:`nyx.rerank_student`'s format."""
    delta: dict[str, np.ndarray] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        value = param.detach().numpy().astype(np.float32)
        if name.endswith((".lora_a", ".lora_b")):
            linear, _, kind = name.rpartition(".")
            module = model.get_submodule(linear)
            if kind == "lora_b":
                value = value * np.float32(module.scale)
            delta[f"{kind}.{linear}"] = np.ascontiguousarray(value)
        else:
            plain = name.replace(".base.", ".")  # a LoRA-wrapped Linear's own bias
            delta[f"add.{plain}"] = value - init[plain]
    return delta


def train_student(args: Any, labels: list[np.ndarray]) -> dict[str, float]:
    """Train the student on the teacher's ``labels`` of ``args.pairs``; write the delta."""
    import torch
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer

    from nyx.rerank import default_reranker_dir

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    tokenizer = Tokenizer.from_file(str(default_reranker_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(256, strategy="only_second")
    tokenizer.no_padding()
    pairs, targets = [], []
    for path, scores in zip(args.pairs, labels):
        rows = read_jsonl(path)[:args.questions or None]
        for row, row_scores in zip(rows, scores):
            for passage, score in zip(row["passages"][:args.depth], row_scores):
                pairs.append((row["query"], passage))
                targets.append(float(score))
    encodings = tokenizer.encode_batch(pairs)
    layers = [int(x) for x in args.layers.split(",")]
    model, init = student_model(layers, args.rank)
    trainable = [p for p in model.parameters() if p.requires_grad]
    logger.info("%d pairs; student keeps layers %s; %d trainable parameters", len(pairs),
                layers, sum(p.numel() for p in trainable))
    # batches of similar length (little padding); their order shuffled
    rng = np.random.default_rng(0)
    order = np.argsort([len(e.ids) + rng.random() for e in encodings])
    batches = [order[i:i + args.batch] for i in range(0, len(order), args.batch)]
    steps = int(len(batches) * args.epochs)
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    model.train()
    start, running = time.perf_counter(), []
    for step in range(steps):
        if step % len(batches) == 0:
            rng.shuffle(batches)
        batch = batches[step % len(batches)]
        width = max(len(encodings[i].ids) for i in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        types = torch.zeros_like(ids)
        for r, i in enumerate(batch):
            e = encodings[i]
            ids[r, :len(e.ids)] = torch.tensor(e.ids)
            mask[r, :len(e.ids)] = 1
            types[r, :len(e.ids)] = torch.tensor(e.type_ids)
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits[:, 0]
        loss = torch.nn.functional.mse_loss(logits, torch.tensor([targets[i] for i in batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        if (step + 1) % 25 == 0 or step + 1 == steps:
            logger.info("step %d/%d  mse %.3f  %.0f s", step + 1, steps, np.mean(running[-25:]),
                        time.perf_counter() - start)
    delta = delta_of(model, init)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(delta, str(args.out), metadata={"layers": args.layers, "rank": str(args.rank)})
    size = args.out.stat().st_size
    logger.info("wrote %s (%.2f MB, %d tensors) after %.0f s", args.out, size / 1e6, len(delta),
                time.perf_counter() - start)
    return {"train_s": time.perf_counter() - start, "bytes": size}


if __name__ == "__main__":
    raise SystemExit(main())
