"""Distil a layer-dropped student of the shipped cross-encoder (``model="student-l6"``).

The teacher is the pinned int8 ms-marco-MiniLM-L-12-v2 of :mod:`nyx.rerank`; the student keeps
``--layers`` of its 12 layers (every other one by default; weights dequantised from the same file
by :mod:`nyx.rerank_weights`) and learns a small delta (:mod:`nyx.rerank_student`'s format). The
only labels are the teacher's logits on (question, first-stage candidate) pairs written by
``nyx-bench rerank-pairs`` (``train`` splits of SQuADShifts Amazon and New-Wiki; never SQuAD-dev,
the held-out evaluation); gold answers are not read.

``--method head`` (default, minutes on a 2-core CPU): the hidden states entering the student's
last layer are computed once per pair by the fp32 student graph (onnxruntime) and cached; only
the last layer's first-token path, the pooler and the classifier reach the logit from there, so
the delta - every bias and LayerNorm of the last layer, the pooler's bias (and matrix with
``--pooler``), the classifier, LoRA of ``--rank`` on the last layer's six matrices - is trained
on the cache for several epochs. Loss: MSE to the teacher's logits plus a listwise KL over each
question's candidates. ``--method full`` trains BitFit + LoRA on every layer end to end in torch
(about 0.5 s per pair per epoch on the 2-core CPU: too slow to use here).

    nyx-bench rerank-pairs --out reports/rerank-pairs       # 600 train questions a domain
    cd reports/rerank-pairs
    head -n 300 squad-shifts-amazon-train.jsonl > amazon-train300.jsonl
    head -n 100 squad-shifts-new-wiki-train.jsonl > new-wiki-train100.jsonl
    cd -
    python -m nyx.training.rerank_distill reports/rerank-pairs/amazon-train300.jsonl \\
        reports/rerank-pairs/new-wiki-train100.jsonl --rank 8 --pooler --epochs 4 \\
        --val 0.1 --out nyx/data/rerank/student-l6.safetensors
"""

from __future__ import annotations

import argparse
import hashlib
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
    # the teacher the shipped student was distilled from: 256 tokens of the passage's head
    teacher = CrossEncoder(num_threads=2, max_length=256, passage_window="head").load()
    rows = read_jsonl(path)
    start = time.perf_counter()
    labels = np.stack([teacher.score(r["query"], r["passages"][:depth]) for r in rows])
    logger.info("teacher scored %d pairs of %s in %.0f s", labels.size, path,
                time.perf_counter() - start)
    np.save(cache, labels)
    return labels


def student_scores(weights: dict[str, np.ndarray], path: Path, depth: int,
                   threads: int = 2, questions: int = 0) -> np.ndarray:
    """Logits [questions, depth] of the int8 ONNX cross-encoder with fp32 ``weights`` (built
    and quantised as :func:`nyx.rerank_student.ensure_student` does) on the pairs in ``path``."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from nyx.encoders.bert_graph import bert_graph
    from nyx.rerank import CrossEncoder, default_reranker_dir
    from nyx.rerank_weights import weights_shape

    graph = bert_graph(weights, weights_shape(weights), head="classifier", prefix="bert.")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "fp32.onnx").write_bytes(graph.SerializeToString())
        quantize_dynamic(folder / "fp32.onnx", folder / "model.onnx",
                         weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        (folder / "tokenizer.json").symlink_to(default_reranker_dir() / "tokenizer.json")
        model = CrossEncoder(folder, num_threads=threads).load()
        return np.stack([model.score(r["query"], r["passages"][:depth])
                         for r in read_jsonl(path)[:questions or None]])


def ranking_metrics(path: Path, scores: np.ndarray | None,
                    questions: int = 0) -> dict[str, float]:
    """nDCG@10 and R@1 of the first stage in ``path`` reranked by ``scores`` [questions, N]
    (None: the first stage's order)."""
    from nyx.metrics import ndcg_at_k, recall_at_k

    ndcg, r1 = [], []
    rows = read_jsonl(path)[:len(scores) if scores is not None else questions or None]
    for i, row in enumerate(rows):
        ids = row["ids"]
        if scores is not None:
            top = len(scores[i])
            order = sorted(range(top), key=lambda j: (-float(scores[i][j]), j))
            ids = [ids[j] for j in order] + ids[top:]
        gold = {row["gold"]: 1}
        ndcg.append(ndcg_at_k(ids, gold, 10))
        r1.append(recall_at_k(ids, gold, 1))
    return {"ndcg@10": float(np.mean(ndcg)), "recall@1": float(np.mean(r1))}


def evaluate(args: Any) -> None:
    """Log nDCG@10 / R@1 on each evaluation file (its first ``--questions``): the first stage
    and the student of ``--layers`` with ``--delta`` (none: the layers dropped, untrained)."""
    from safetensors.numpy import load_file

    from nyx.rerank import default_reranker_dir
    from nyx.rerank_student import apply_delta, select_layers
    from nyx.rerank_weights import dequantized_weights

    layers = [int(x) for x in args.layers.split(",")]
    weights = select_layers(dequantized_weights(default_reranker_dir() / "model.onnx"), layers)
    if args.delta:
        weights = apply_delta(weights, load_file(str(args.delta)))
    for path in args.pairs:
        student = student_scores(weights, path, args.depth, args.threads, args.questions)
        logger.info("%s N=%d, %d questions: first stage %s | student (layers %s, delta %s) %s",
                    path.name, args.depth, len(student),
                    ranking_metrics(path, None, args.questions), args.layers, args.delta,
                    ranking_metrics(path, student))


LAST_LAYER_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense", "intermediate.dense", "output.dense")


class LastLayerHead:
    """The student's last layer (first token only), pooler and classifier in torch, with a
    trainable delta: every bias and LayerNorm of the last layer, the pooler's bias (and its
    whole matrix with ``pooler``), the classifier, and LoRA factors of ``rank`` on the last
    layer's six matrices. Fed the hidden states entering the last layer."""

    def __init__(self, weights: dict[str, np.ndarray], *, rank: int, pooler: bool,
                 heads: int = 12, seed: int = 0) -> None:
        import torch

        torch.manual_seed(seed)
        layers = 1 + max(int(k.split(".")[3]) for k in weights
                         if k.startswith("bert.encoder.layer."))
        self.prefix = f"bert.encoder.layer.{layers - 1}"
        self.heads = heads
        self.base = {k: torch.from_numpy(np.array(v, dtype=np.float32))
                     for k, v in weights.items()
                     if k.startswith((f"{self.prefix}.", "bert.pooler.", "classifier."))}
        trainable = [k for k in self.base if k.endswith(".bias") or "LayerNorm" in k
                     or k.startswith("classifier.")]
        if pooler:
            trainable.append("bert.pooler.dense.weight")
        self.delta = {k: torch.zeros(self.base[k].shape, requires_grad=True) for k in trainable}
        self.lora: dict[str, Any] = {}
        for linear in (f"{self.prefix}.{name}" for name in LAST_LAYER_LINEARS) if rank else ():
            out_dim, in_dim = self.base[f"{linear}.weight"].shape
            self.lora[f"lora_a.{linear}"] = (torch.randn(rank, in_dim)
                                             / in_dim**0.5).requires_grad_()
            self.lora[f"lora_b.{linear}"] = torch.zeros(out_dim, rank, requires_grad=True)

    def parameters(self) -> list[Any]:
        return [*self.delta.values(), *self.lora.values()]

    def _w(self, name: str) -> Any:
        value = self.base[name]
        if name in self.delta:
            value = value + self.delta[name]
        linear = name.removesuffix(".weight")
        if f"lora_b.{linear}" in self.lora:
            value = value + self.lora[f"lora_b.{linear}"] @ self.lora[f"lora_a.{linear}"]
        return value

    def _linear(self, x: Any, name: str) -> Any:
        return x @ self._w(f"{name}.weight").T + self._w(f"{name}.bias")

    def __call__(self, x: Any, mask: Any) -> Any:
        """Logits [n] of hidden states ``x`` [n, L, d] entering the last layer (``mask`` [n, L]
        1 on tokens, 0 on padding)."""
        import torch
        from torch.nn import functional

        p, d = self.prefix, x.shape[-1]
        size = d // self.heads
        first = x[:, 0]
        q = self._linear(first, f"{p}.attention.self.query").view(-1, self.heads, 1, size)
        k = self._linear(x, f"{p}.attention.self.key").view(x.shape[0], -1, self.heads, size)
        v = self._linear(x, f"{p}.attention.self.value").view(x.shape[0], -1, self.heads, size)
        scores = q @ k.permute(0, 2, 3, 1) / size**0.5  # [n, heads, 1, L]
        scores = scores + (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
        context = (torch.softmax(scores, dim=-1) @ v.transpose(1, 2)).reshape(-1, d)
        attended = functional.layer_norm(
            self._linear(context, f"{p}.attention.output.dense") + first, (d,),
            self._w(f"{p}.attention.output.LayerNorm.weight"),
            self._w(f"{p}.attention.output.LayerNorm.bias"), eps=1e-12)
        hidden = functional.gelu(self._linear(attended, f"{p}.intermediate.dense"))
        out = functional.layer_norm(self._linear(hidden, f"{p}.output.dense") + attended, (d,),
                                    self._w(f"{p}.output.LayerNorm.weight"),
                                    self._w(f"{p}.output.LayerNorm.bias"), eps=1e-12)
        pooled = torch.tanh(self._linear(out, "bert.pooler.dense"))
        return self._linear(pooled, "classifier")[:, 0]

    def state(self) -> dict[str, np.ndarray]:
        """The delta in :mod:`nyx.rerank_student`'s format."""
        out = {f"add.{k}": v.detach().numpy().copy() for k, v in self.delta.items()}
        out.update({k: v.detach().numpy().copy() for k, v in self.lora.items()})
        return out


def _padded(hidden: np.ndarray, starts: np.ndarray, pairs: np.ndarray) -> tuple[Any, Any]:
    import torch

    lengths = starts[pairs + 1] - starts[pairs]
    x = np.zeros((len(pairs), int(lengths.max()), hidden.shape[1]), dtype=np.float32)
    mask = np.zeros(x.shape[:2], dtype=np.float32)
    for r, (i, n) in enumerate(zip(pairs, lengths)):
        x[r, :n] = hidden[starts[i]:starts[i] + n]
        mask[r, :n] = 1.0
    return torch.from_numpy(x), torch.from_numpy(mask)


def head_scores(head: LastLayerHead, hidden: np.ndarray, starts: np.ndarray,
                batch: int = 64) -> np.ndarray:
    """The head's logits of every pair."""
    import torch

    out = []
    with torch.no_grad():
        for begin in range(0, len(starts) - 1, batch):
            pairs = np.arange(begin, min(begin + batch, len(starts) - 1))
            out.append(head(*_padded(hidden, starts, pairs)).numpy())
    return np.concatenate(out)


def train_head(head: LastLayerHead, hidden: np.ndarray, starts: np.ndarray,
               targets: np.ndarray, *, epochs: int, lr: float, questions_per_step: int = 8,
               listwise: float = 1.0, seed: int = 0) -> None:
    """Fit ``head``'s delta to the teacher's logits ``targets`` [questions, depth] (pairs in
    question order). Loss: MSE plus ``listwise`` x the KL divergence of the student's softmax
    over a question's candidates from the teacher's. AdamW, linear decay."""
    import torch
    from torch.nn import functional

    depth = targets.shape[1]
    rng = np.random.default_rng(seed)
    steps = epochs * -(-len(targets) // questions_per_step)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / max(1, steps))
    start, step, running = time.perf_counter(), 0, []
    for epoch in range(epochs):
        order = rng.permutation(len(targets))
        for begin in range(0, len(order), questions_per_step):
            questions = order[begin:begin + questions_per_step]
            pairs = (questions[:, None] * depth + np.arange(depth)).ravel()
            y = torch.from_numpy(targets[questions].astype(np.float32))
            logits = head(*_padded(hidden, starts, pairs)).view_as(y)
            loss = functional.mse_loss(logits, y) + listwise * functional.kl_div(
                functional.log_softmax(logits, dim=1), functional.log_softmax(y, dim=1),
                log_target=True, reduction="batchmean")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            running.append(loss.item())
        logger.info("epoch %d/%d (%d steps)  loss %.3f  %.0f s", epoch + 1, epochs, step,
                    float(np.mean(running[-50:])), time.perf_counter() - start)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", type=Path, help="rerank-pairs jsonl (train splits)")
    parser.add_argument("--depth", type=int, default=20, help="candidates per question")
    parser.add_argument("--questions", type=int, default=0, help="per file (0: all)")
    parser.add_argument("--label-only", action="store_true")
    parser.add_argument("--evaluate", action="store_true",
                        help="score the pairs files (eval splits) with the student instead")
    parser.add_argument("--delta", type=Path, default=None, help="with --evaluate")
    parser.add_argument("--layers", default="0,2,4,6,8,10", help="teacher layers kept")
    parser.add_argument("--method", choices=("head", "full"), default="head",
                        help="head: last FFN + pooler + classifier on cached vectors; full: "
                             "BitFit + LoRA on every layer, end to end (slow on CPU)")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (0: BitFit only)")
    parser.add_argument("--pooler", action="store_true", help="train the whole pooler matrix")
    parser.add_argument("--listwise", type=float, default=1.0, help="weight of the list KL")
    parser.add_argument("--val", type=float, default=0.0,
                        help="fraction of each file's questions held out to report the fit")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="the delta file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.evaluate:
        evaluate(args)
        return 0
    labels = [teacher_labels(p, args.depth) for p in args.pairs]
    if args.method == "full":
        if args.out is None:
            raise SystemExit("--out is required")
        train_student(args, labels)
        return 0
    from safetensors.numpy import save_file

    from nyx.rerank import default_reranker_dir
    from nyx.rerank_student import select_layers
    from nyx.rerank_weights import dequantized_weights

    start = time.perf_counter()
    layers = [int(x) for x in args.layers.split(",")]
    weights = select_layers(dequantized_weights(default_reranker_dir() / "model.onnx"), layers)
    inputs = [last_layer_inputs(weights, p, args.depth, args.threads) for p in args.pairs]
    if args.label_only:
        return 0
    # the last --val of each file's questions are held out to report the fit
    parts: dict[str, list[Any]] = {"train": [], "val": []}
    for (hidden, starts), y in zip(inputs, labels):
        cut = int(len(y) * (1 - args.val))
        for split, rows in (("train", slice(0, cut)), ("val", slice(cut, len(y)))):
            first, last = rows.start * args.depth, rows.stop * args.depth
            parts[split].append((hidden[starts[first]:starts[last]],
                                 starts[first:last + 1] - starts[first], y[rows]))
    train, val = (_joined(parts[split]) for split in ("train", "val"))
    head = LastLayerHead(weights, rank=args.rank, pooler=args.pooler)
    untrained = _fit(head, val) if args.val else {}
    train_head(head, *train, epochs=int(args.epochs), lr=args.lr, listwise=args.listwise)
    if args.val:
        logger.info("held-out questions %d: %s (untrained student: %s)", len(val[2]),
                    _fit(head, val), untrained)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v, dtype=np.float32)
                   for k, v in head.state().items()},
                  str(args.out), metadata={"layers": args.layers, "rank": str(args.rank),
                                           "pooler": str(args.pooler)})
        logger.info("wrote %s (%.2f MB) %.0f s after the start", args.out,
                    args.out.stat().st_size / 1e6, time.perf_counter() - start)
    return 0


def _joined(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hidden = np.concatenate([h for h, _, _ in parts])
    offsets = np.cumsum([0] + [len(h) for h, _, _ in parts[:-1]])
    starts = np.concatenate([s[:-1] + o for (_, s, _), o in zip(parts, offsets)]
                            + [[len(hidden)]])
    return hidden, starts, np.concatenate([y for _, _, y in parts])


def _fit(head: LastLayerHead, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> str:
    hidden, starts, teacher = data
    student = head_scores(head, hidden, starts).reshape(teacher.shape)
    return (f"top-1 agreement {np.mean(teacher.argmax(1) == student.argmax(1)):.3f}, "
            f"correlation {np.corrcoef(teacher.ravel(), student.ravel())[0, 1]:.3f}, "
            f"mse {np.mean((teacher - student) ** 2):.2f}")


LORA_TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


def last_layer_inputs(weights: dict[str, np.ndarray], path: Path, depth: int,
                      threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The hidden states entering the student's last layer for each pair in ``path``: tokens
    of all pairs one after another [tokens, d] (float16) and each pair's start [pairs + 1].
    Cached in ``path`` + ``.in<depth>-<weights hash>.npz``. Past these, the last layer's work
    that reaches the classifier is its first token's query against all keys and values, so it
    and the head can be trained without running the rest of the network again."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from nyx.encoders.bert_graph import bert_graph
    from nyx.rerank import default_reranker_dir
    from nyx.rerank_weights import weights_shape

    shape = weights_shape(weights)
    tag = hashlib.sha256(b"".join(np.ascontiguousarray(weights[k]).tobytes()
                                  for k in sorted(weights))).hexdigest()[:12]
    cache = path.with_name(f"{path.name}.in{depth}-{tag}.npz")
    if cache.exists():
        stored = np.load(cache)
        return stored["hidden"], stored["starts"]
    graph = bert_graph(weights, shape, head="classifier", prefix="bert.")
    name = "emb" if shape.layers == 1 else f"bert.encoder.layer.{shape.layers - 2}.hidden"
    graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                 None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(graph.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(default_reranker_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(256, strategy="only_second")
    tokenizer.no_padding()
    start, rows = time.perf_counter(), []
    for row in read_jsonl(path):
        for passage in row["passages"][:depth]:
            e = tokenizer.encode(row["query"], passage)
            feeds = {"input_ids": np.array([e.ids]), "attention_mask": np.array([e.attention_mask]),
                     "token_type_ids": np.array([e.type_ids])}
            rows.append(session.run([name], feeds)[0][0].astype(np.float16))
    hidden = np.concatenate(rows)
    starts = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    logger.info("%d pairs' last-layer inputs (%d tokens) of %s in %.0f s", len(rows),
                len(hidden), path, time.perf_counter() - start)
    np.savez(cache, hidden=hidden, starts=starts)
    return hidden, starts


def _lora_linear(base: Any, rank: int, alpha: float) -> Any:
    """``base`` (a frozen ``nn.Linear``) plus a trainable low-rank update ``B @ A``."""
    import torch

    from nyx.training.text_lora import LoraLinear

    return LoraLinear(base, rank, alpha / rank,
                      a=torch.randn(rank, base.in_features) / base.in_features**0.5)


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
