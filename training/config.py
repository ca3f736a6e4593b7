"""Run configuration: dataclasses that load from and save to YAML, with errors naming bad keys
(:mod:`nyx.dataclass_config`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from nyx.dataclass_config import from_mapping, read_mapping

Stage = Literal["contrastive", "nyxqa", "feedback"]
ModelKind = Literal["nyx-lite-projection", "vlm"]


@dataclass
class AdapterConfig:
    """LoRA / DoRA settings for transformer backbones (peft)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    #: DoRA (weight-decomposed LoRA) instead of plain LoRA.
    dora: bool = False
    #: A regex over module names (peft semantics) or a list of module-name suffixes. The default
    #: adapts the language model's attention and MLP projections and leaves the vision tower alone.
    target_modules: str | list[str] = (
        r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
    )


@dataclass
class ModelConfig:
    """Which embedder is trained."""

    kind: ModelKind = "nyx-lite-projection"
    #: VLM: a local folder written by ``save_pretrained`` or a hub id (online use only).
    name: str = ""
    #: ``auto`` (bf16 on CUDA, fp32 on CPU), ``bf16``, ``fp16`` or ``fp32``.
    dtype: str = "auto"
    attn_implementation: str = "auto"
    device: str = "auto"
    max_pixels: int | None = None
    min_pixels: int | None = None
    query_instruction: str | None = None
    #: VLM: ``None`` uses the processor's chat template, ``false`` raw interleaved text.
    chat_template: bool | None = None
    gradient_checkpointing: bool = False
    local_files_only: bool = True
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    #: nyx-lite: dropout on the frozen image features (regularises the linear projection).
    feature_dropout: float = 0.0
    #: nyx-lite: where frozen image features are cached (default ``<output_dir>/features``).
    feature_cache: str | None = None
    #: nyx-lite: share of text in an interleaved item's vector (as in ``LiteConfig``).
    text_weight: float = 0.5
    #: Start from trained weights: a projection ``.safetensors`` or a peft adapter folder.
    init_from: str | None = None


@dataclass
class DataConfig:
    """Training pairs: jsonl lines ``{"query", "positive", "negatives"}``."""

    train: str = ""
    dev: str | None = None
    #: Hard negatives used per query (extra ones are dropped, missing ones simply absent).
    hard_negatives: int = 1
    #: Mask in-batch documents that are another known positive of the same query.
    mask_false_negatives: bool = True
    #: Root for relative image paths (default: the jsonl file's folder).
    image_root: str | None = None
    max_examples: int | None = None


@dataclass
class LossConfig:
    """InfoNCE with in-batch and hard negatives, optionally Matryoshka over several dims."""

    temperature: float = 0.02
    #: Empty: the full dimension only. Otherwise the dims (largest first), e.g. [1536, 1024, 512].
    matryoshka_dims: list[int] = field(default_factory=list)
    #: One weight per dim; empty means 1.0 each.
    matryoshka_weights: list[float] = field(default_factory=list)
    #: Gather queries and documents across processes under torch.distributed (more negatives;
    #: the summed gradient is the full-batch gradient). False: each process its own batch.
    gather_across_processes: bool = True


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 32
    grad_accum_steps: int = 1
    epochs: int = 1
    #: Stop after this many optimizer steps (overrides ``epochs`` when set).
    max_steps: int | None = None
    warmup_steps: int = 0
    schedule: Literal["constant", "linear", "cosine"] = "linear"
    max_grad_norm: float | None = 1.0
    #: bf16 autocast (ignored on CPU).
    bf16: bool = True


@dataclass
class CheckpointConfig:
    every_steps: int = 0
    keep: int = 2
    resume: bool = True


@dataclass
class EvalConfig:
    every_steps: int = 0
    ks: list[int] = field(default_factory=lambda: [1, 10])
    batch_size: int = 64


@dataclass
class NyxQAConfig:
    """The NyxQA-style synthetic data pipeline over a folder of documents."""

    corpus: str = ""
    max_words: int = 150
    num_samples: int = 100
    modality_mix: dict[str, float] = field(
        default_factory=lambda: {"text": 0.6, "interleaved": 0.3, "image": 0.1})
    questions_per_chunk: int = 2
    generator: str = "smollm2"
    max_new_tokens: int = 96
    #: Ask the generator to shorten long answers (else a rule shortens them).
    refine_with_generator: bool = False
    max_answer_words: int = 8
    min_question_words: int = 4
    max_question_words: int = 30
    #: Extractive mode: the answer must appear in the chunk.
    extractive: bool = True
    #: Share of a question's content words that must occur in its chunk.
    min_grounding: float = 0.5
    distractors: int = 0
    dev_fraction: float = 0.1
    #: Retriever used to mine hard negatives: ``nyx-lite`` or any ``load_encoder`` spec.
    miner_encoder: str = "nyx-lite"
    miner_options: dict[str, Any] = field(default_factory=lambda: {"ocr": False})
    negative_ranks: list[int] = field(default_factory=lambda: [10, 20])
    #: Describe images to the (text-only) generator with nyx-lite labels and OCR text.
    describe_images: bool = True


@dataclass
class FeedbackConfig:
    """Relabel training queries by whether the generator answers correctly from each document."""

    queries: str = ""
    corpus: str = ""
    #: Encoder used to retrieve; default: ``nyx-lite`` with ``model.init_from`` as projection.
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    search_mode: Literal["dense", "hybrid", "lexical"] = "dense"
    k: int = 5
    generator: str = "smollm2"
    max_new_tokens: int = 16
    #: EM by default: with a 135M reader, 5 of 6 extra positives under token F1 >= 0.5 were
    #: partial-token matches ("Lake Ticum" for "Lake Constance"; training/README.md, (b)).
    metric: Literal["em", "f1"] = "em"
    #: The score a document's answer must reach (EM is 0 or 1, so any value in (0, 1] is EM).
    threshold: float = 0.5
    #: What to do with the original positive: ``fallback`` uses it when no retrieved document
    #: is judged positive, ``keep`` always adds it, ``drop`` relies on the judgements alone.
    gold_policy: Literal["fallback", "keep", "drop"] = "fallback"
    #: Never use the original positive as a hard negative, whatever the generator says.
    gold_never_negative: bool = True
    #: Continue contrastive training on the labelled pairs after labelling.
    train: bool = True


@dataclass
class TrainConfig:
    """One ``nyx-train`` run."""

    stage: Stage = "contrastive"
    output_dir: str = "runs/nyx-train"
    seed: int = 0
    num_threads: int | None = None
    log_every_steps: int = 10
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    nyxqa: NyxQAConfig = field(default_factory=NyxQAConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return from_mapping(cls, data, "config")

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(read_mapping(path, "see training/configs/ for examples"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["optim.lr=1e-4", "loss.matryoshka_dims=[512,256]"]`` -> a nested mapping."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE (dotted keys), got {pair!r}")
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return tree


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_train_config(path: str | Path, overrides: Sequence[str] = (),
                      stage: str | None = None) -> TrainConfig:
    """A run config from YAML with ``--set KEY=VALUE`` overrides and an optional stage."""
    base = TrainConfig.from_yaml(path).to_dict()
    extra = parse_overrides(overrides)
    if stage:
        extra["stage"] = stage
    return TrainConfig.from_dict(merge(base, extra))
