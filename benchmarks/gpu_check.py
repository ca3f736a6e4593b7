"""The CUDA paths on a GPU: VLM embedder congruence, 3B-scale embedding speed, LoRA training steps.

    python -m benchmarks.gpu_check --squad squaddev_v1.1.json --out reports/gpu

1. ``congruence``: a tiny random Qwen2-VL and Qwen2.5-VL embed the same queries and documents
   (text, image, interleaved) through ``VLMEncoder`` on CPU fp32, CUDA fp32 and CUDA bf16.
2. ``faiss``: whether faiss sees the GPU, and if it does, GPU flat search against CPU flat search.
3. ``throughput``: ``VLMEncoder`` on a randomly initialised model with Qwen2.5-VL-3B-Instruct's
   published shape (3.75B parameters) in bf16: questions, paragraphs and 448-px images per second.
4. ``training``: ``nyx-train`` with the shipped recipe ``training/configs/qwen2.5-vl-3b-lora.yaml``
   (LoRA r=16 on the language model, gradient checkpointing, bf16, batch 32 + 32 hard negatives,
   Matryoshka 2048/1024/512/256) on that model for a few steps; then a resumed run, and the
   exported adapter loaded back through ``VLMEncoder(..., adapter=..., dim=1024)``.

No checkpoint can be fetched on an offline GPU machine, so the 3B model is random and its
tokenizer is a byte-level BPE (32k) trained here on the SQuAD text: speed and memory are those of
the real architecture, retrieval quality is not measured. ``--shape small`` runs every step with a
small model (for trying the script on a CPU). Each section's result is written to
``<out>/gpu_check.json`` as soon as it finishes, so a crash keeps what came before.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import platform
import random
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("benchmarks.gpu_check")

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2-VL's chat template without the default system turn (as VLMEncoder's tests use it).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif c['type'] == 'text' %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen2.5-VL-3B-Instruct's config.json (hidden sizes, depths, heads, vocabulary, rope).
QWEN25_VL_3B = {
    "text": {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 11008,
             "num_hidden_layers": 36, "num_attention_heads": 16, "num_key_value_heads": 2,
             "max_position_embeddings": 128000,
             "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                 "mrope_section": [16, 24, 24]}},
    "vision": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
               "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2,
               "temporal_patch_size": 2, "window_size": 112,
               "fullatt_block_indexes": [7, 15, 23, 31]},
}
SMALL = {
    "text": {"vocab_size": 4096, "hidden_size": 128, "intermediate_size": 256,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 4096,
             "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                 "mrope_section": [4, 6, 6]}},
    "vision": {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2,
               "out_hidden_size": 128, "patch_size": 14, "spatial_merge_size": 2,
               "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [1]},
}
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "camera", "horse", "hubble_deep_field")


# -- data -------------------------------------------------------------------------------------


def squad_rows(path: Path) -> list[dict[str, Any]]:
    """(title, context, question) rows of SQuAD v1.1 dev, in file order."""
    rows = []
    for article in json.loads(path.read_text())["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows.append({"title": article["title"], "context": paragraph["context"],
                             "question": qa["question"]})
    return rows


def photos(size: int) -> list[Any]:
    from PIL import Image
    from skimage import data

    out = []
    for name in PHOTOS:
        array = getattr(data, name)()
        image = Image.fromarray(array).convert("RGB")
        out.append(image.resize((size, size)))
    return out


def build_processor(texts: list[str], vocab_size: int,
                    processor_class: str = "Qwen2VLProcessor") -> Any:
    """A Qwen2-VL-family processor whose byte-level BPE tokenizer is trained here on ``texts``.

    The tokenizer has Qwen's special tokens and chat template; the image and video processors are
    the library's defaults. The tests' tiny models use it too.
    """
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<|endoftext|>", eos_token="<|im_end|>",
        chat_template=CHAT_TEMPLATE)
    return getattr(transformers, processor_class)(
        image_processor=transformers.Qwen2VLImageProcessor(),
        video_processor=transformers.Qwen2VLVideoProcessor(),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def build_model(processor: Any, shape: dict[str, Any], family: str, device: str,
                dtype: Any, seed: int = 0) -> Any:
    """A randomly initialised ``Qwen2VL`` / ``Qwen2_5_VL`` ...ForConditionalGeneration."""
    import torch
    import transformers

    vocab = processor.tokenizer.get_vocab()
    text = dict(shape["text"], vocab_size=max(shape["text"]["vocab_size"], len(vocab)),
                bos_token_id=None, eos_token_id=vocab["<|im_end|>"],
                pad_token_id=vocab["<|endoftext|>"])
    vision = dict(shape["vision"])
    if family == "Qwen2VL":  # Qwen2-VL's vision tower: embed_dim + mlp_ratio, no window attention
        vision = {"depth": vision["depth"], "embed_dim": vision["hidden_size"],
                  "hidden_size": shape["text"]["hidden_size"], "num_heads": vision["num_heads"],
                  "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
                  "temporal_patch_size": 2}
    config = getattr(transformers, f"{family}Config")(
        text_config=text, vision_config=vision,
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"])
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = getattr(transformers, f"{family}ForConditionalGeneration")(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


# -- sections ---------------------------------------------------------------------------------


def section_environment(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "transformers": transformers.__version__,
                            "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, multiprocessors=props.multi_processor_count)
    try:
        import peft

        info["peft"] = peft.__version__
    except ImportError:
        info["peft"] = None
    return info


def _items(images: list[Any]) -> list[Any]:
    from nyx.content import Item

    return ["the quick brown fox", "a lazy dog sleeps all day long in the sun",
            Item.of(images[0]), Item.of(images[1]),
            Item.of(["a photo of", images[2], "on a table"]),
            Item.of([images[3], "launch at dawn"])]


def section_congruence(args: argparse.Namespace) -> dict[str, Any]:
    """The same tiny model's embeddings on CPU fp32, on the GPU in fp32 and in bf16."""
    import torch

    from nyx.encoders.vlm import VLMEncoder

    corpus = ["the quick brown fox jumps over the lazy dog", "a photo of a rocket launch at dawn",
              "Please retrieve the most relevant document to answer the question."]
    processor = build_processor(corpus, 400)
    items = _items(photos(112))
    out: dict[str, Any] = {}
    for family in ("Qwen2VL", "Qwen2_5_VL"):
        tiny = {"text": dict(SMALL["text"], hidden_size=64, intermediate_size=128,
                             rope_parameters=dict(SMALL["text"]["rope_parameters"],
                                                  mrope_section=[2, 3, 3])),
                "vision": dict(SMALL["vision"], hidden_size=32, intermediate_size=64,
                               out_hidden_size=64)}
        base = build_model(processor, tiny, family, "cpu", torch.float32)
        vectors = {}
        for label, device, dtype in (("cpu_fp32", "cpu", torch.float32),
                                     ("gpu_fp32", args.device, torch.float32),
                                     ("gpu_bf16", args.device, torch.bfloat16)):
            model = copy.deepcopy(base).to(device=device, dtype=dtype)
            encoder = VLMEncoder(family, model_obj=model, processor=processor,
                                 max_pixels=112 * 112)
            vectors[label] = np.concatenate([encoder.encode_queries(items, batch_size=3),
                                             encoder.encode_documents(items, batch_size=3)])
        ref = vectors["cpu_fp32"]
        out[family] = {
            label: {"max_abs_diff": float(np.abs(v - ref).max()),
                    "min_cosine": float((v * ref).sum(1).min())}
            for label, v in vectors.items() if label != "cpu_fp32"}
        out[family]["n_vectors"] = int(len(ref))
    return out


def section_faiss(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    from indexes.faiss_config import gpu_available
    from indexes.faiss_index import FaissIndex

    info: dict[str, Any] = {"faiss": faiss.__version__, "gpu_available": gpu_available()}
    if not info["gpu_available"]:
        info["note"] = ("this faiss build has no GPU support (faiss-gpu was not installed), so "
                        "FaissIndex searched on the CPU")
        return info
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200_000, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:1000] + 0.01 * rng.standard_normal((1000, 384), dtype=np.float32)
    ids = [str(i) for i in range(len(vectors))]
    timings = {}
    hits = {}
    for use_gpu in (False, True):
        index = FaissIndex(384, kind="flat", use_gpu=use_gpu)
        index.upsert(ids, vectors)
        index.search(queries[:10], 10)  # warm-up (moves the index to the GPU once)
        start = time.perf_counter()
        hits[use_gpu] = index.search(queries, 10)
        timings["gpu" if use_gpu else "cpu"] = time.perf_counter() - start
    same = np.mean([[h.id for h in a] == [h.id for h in b]
                    for a, b in zip(hits[False], hits[True])])
    info.update(n=len(vectors), queries=len(queries), seconds=timings, same_top10=float(same))
    return info


def _timed_encode(fn: Callable[[], np.ndarray], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def section_throughput(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    import torch

    from nyx.encoders.vlm import VLMEncoder

    rows = state["rows"]
    model = build_model(state["processor"], state["shape"], "Qwen2_5_VL", args.device,
                        torch.bfloat16)
    state["model"] = model
    n_params = sum(p.numel() for p in model.parameters())
    encoder = VLMEncoder("qwen2.5-vl-3b-shape-random", model_obj=model,
                         processor=state["processor"], max_pixels=602112)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    questions = [r["question"] for r in rows[:args.n_text]]
    contexts = list(dict.fromkeys(r["context"] for r in rows))[:args.n_text]
    album = photos(448)
    images = [album[i % len(album)] for i in range(args.n_images)]
    tokenizer = state["processor"].tokenizer
    out: dict[str, Any] = {"parameters": n_params, "dtype": "bf16",
                           "attention": getattr(model.config, "_attn_implementation", None)}
    cases = [("questions", questions, True, 64), ("paragraphs", contexts, False, 32),
             ("images_448px", images, False, 16)]
    # Text variants: input order (as measured first), sorted by length (the default), sorted
    # and padded to a multiple of 64 tokens (fewer distinct shapes for the attention kernels).
    variants = {"unsorted": (False, None), "": (True, None), "sorted_pad64": (True, 64)}
    cases = [(name + (f"_{v}" if v else ""), batch, q, size, flags)
             for name, batch, q, size in cases
             for v, flags in (variants.items() if name != "images_448px" else [("", (True, None))])]
    for name, batch, is_query, batch_size, (sort, pad) in cases:
        encoder.sort_by_length, encoder.pad_to_multiple_of = sort, pad
        encode = encoder.encode_queries if is_query else encoder.encode_documents
        encode(batch[:batch_size], batch_size=batch_size)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        seconds = _timed_encode(lambda b=batch, e=encode, s=batch_size: e(b, batch_size=s), sync)
        entry = {"n": len(batch), "batch_size": batch_size, "seconds": round(seconds, 3),
                 "items_per_s": round(len(batch) / seconds, 1), "sorted": sort,
                 "pad_to_multiple_of": pad}
        if not name.startswith("images"):
            tokens = sum(len(tokenizer(t)["input_ids"]) for t in batch)
            entry["mean_tokens"] = round(tokens / len(batch), 1)
            entry["tokens_per_s"] = round(tokens / seconds)
        if args.device.startswith("cuda"):
            entry["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out[name] = entry
        logger.info("throughput %s: %s", name, entry)
    encoder.sort_by_length, encoder.pad_to_multiple_of = True, None
    full = encoder.encode_queries(questions[:8])
    encoder.dim = 1024 if encoder.full_dim >= 1024 else encoder.full_dim // 2
    short = encoder.encode_queries(questions[:8])
    head = full[:, :encoder.dim] / np.linalg.norm(full[:, :encoder.dim], axis=1, keepdims=True)
    out["matryoshka_max_diff"] = float(np.abs(head - short).max())
    return out


def section_profile(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """Where one batch of questions and one of paragraphs spend their time (torch.profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from nyx.content import as_items
    from nyx.encoders.vlm import VLMEncoder

    model = state.get("model") or build_model(state["processor"], state["shape"], "Qwen2_5_VL",
                                              args.device, torch.bfloat16)
    state["model"] = model
    encoder = VLMEncoder("qwen2.5-vl-3b-shape-random", model_obj=model,
                         processor=state["processor"], max_pixels=602112)
    rows = state["rows"]
    contexts = list(dict.fromkeys(r["context"] for r in rows))
    cases = {"questions": (as_items([r["question"] for r in rows[:64]]), True),
             "paragraphs": (as_items(contexts[:32]), False),
             "questions_b256": (as_items([r["question"] for r in rows[:256]]), True),
             "paragraphs_b128": (as_items(contexts[:128]), False)}
    cuda = args.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    out: dict[str, Any] = {}
    for name, (items, is_query) in cases.items():
        encoder._encode_batch(items, is_query=is_query)  # warm-up
        timings = {}
        for _ in range(2):
            sync()
            t0 = time.perf_counter()
            inputs = encoder.prepare_inputs(items, is_query=is_query)
            sync()
            t1 = time.perf_counter()
            with torch.inference_mode():
                pooled = encoder.pooled(inputs)
            sync()
            t2 = time.perf_counter()
            pooled.cpu()
            timings = {"prepare_s": round(t1 - t0, 4), "forward_s": round(t2 - t1, 4),
                       "tokens": int(inputs["attention_mask"].numel())}
        out[name] = timings
        if "_b" in name:  # larger batches: timings only
            continue
        with profile(activities=activities) as prof:
            with torch.inference_mode():
                encoder.pooled(encoder.prepare_inputs(items, is_query=is_query))
            sync()
        sort = "cuda_time_total" if cuda else "cpu_time_total"
        table = prof.key_averages().table(sort_by=sort, row_limit=25)
        (args.out / f"profile_{name}.txt").write_text(table)
        cpu_sorted = prof.key_averages().table(sort_by="cpu_time_total", row_limit=25)
        (args.out / f"profile_{name}_cpu.txt").write_text(cpu_sorted)
        logger.info("profile %s: %s\n%s", name, timings, table[:3000])
    return out


def section_clip(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """open_clip encoders on the GPU: CPU/GPU congruence (ViT-B-32) and speed (ViT-B-32, ViT-L-14).

    The weights are random (no CLIP weights ship offline): one state dict is saved and loaded
    through ``checkpoint=`` by every encoder, so all devices and precisions share it.
    """
    import torch

    from nyx.encoders.clip import ClipEncoder

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    work = Path(args.work)
    items = _items(photos(224))
    out: dict[str, Any] = {}
    for arch in ("ViT-B-32", "ViT-L-14"):
        torch.manual_seed(0)
        reference = ClipEncoder(arch, device="cpu")
        checkpoint = work / f"{arch}.pt"
        torch.save(reference.model.state_dict(), checkpoint)
        entry: dict[str, Any] = {}
        if arch == "ViT-B-32":
            ref = np.concatenate([reference.encode_queries(items),
                                  reference.encode_documents(items)])
            for precision in ("fp32", "bf16", "fp16") if cuda else ("fp32",):
                enc = ClipEncoder(arch, checkpoint=checkpoint, device=args.device,
                                  precision=precision)
                got = np.concatenate([enc.encode_queries(items), enc.encode_documents(items)])
                entry[f"{precision}_vs_cpu_fp32"] = {
                    "max_abs_diff": float(np.abs(got - ref).max()),
                    "min_cosine": float((got * ref).sum(1).min())}
        del reference
        album = photos(224)
        images = [album[i % len(album)] for i in range(args.n_images * 4)]
        questions = [r["question"] for r in state["rows"][:args.n_text]]
        for precision in ("fp32", "fp16") if cuda else ("fp32",):
            enc = ClipEncoder(arch, checkpoint=checkpoint, device=args.device,
                              precision=precision)
            for name, batch, size in (("images", images, 128), ("texts", questions, 256)):
                enc.encode_documents(batch[:size], batch_size=size)  # warm-up
                seconds = _timed_encode(
                    lambda b=batch, e=enc, z=size: e.encode_documents(b, batch_size=z), sync)
                entry[f"{name}_{precision}_per_s"] = round(len(batch) / seconds, 1)
            del enc
            if cuda:
                torch.cuda.empty_cache()
        out[arch] = entry
        logger.info("clip %s: %s", arch, entry)
    return out


def section_index(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """``nyx-index build | search | verify`` on the demo corpus with the VLM encoder (``vlm:PATH``,
    on the GPU when there is one), as a user would run them."""
    import subprocess

    import torch

    work = Path(args.work)
    model_dir = work / "model"
    if not (model_dir / "config.json").is_file():
        model = state.pop("model", None) or build_model(
            state["processor"], state["shape"], "Qwen2_5_VL", args.device, torch.bfloat16)
        model.save_pretrained(model_dir)
        state["processor"].save_pretrained(model_dir)
        del model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    root = Path(__file__).resolve().parents[1]
    corpus, index = root / "nyx" / "data" / "demo_corpus", work / "demo.nyx"
    shutil.rmtree(index, ignore_errors=True)

    def cli(*cli_args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nyx.cli.index", *cli_args],
                              capture_output=True, text=True, timeout=900)
        if done.returncode not in (0,):
            raise RuntimeError(f"nyx-index {cli_args[0]} exited {done.returncode}: "
                               f"{done.stderr[-2000:]}")
        return done, time.perf_counter() - start

    build, build_s = cli("build", str(corpus), "-o", str(index), "--model", f"vlm:{model_dir}",
                         "--json")
    text, text_s = cli("search", str(index), "a cup of coffee", "-k", "3", "--json")
    image, image_s = cli("search", str(index), "--image",
                         str(corpus / "photos" / "rocket-launch.jpg"), "-k", "3", "--json")
    verify, verify_s = cli("verify", str(index))
    info, _ = cli("info", str(index))
    built = json.loads(build.stdout)

    def hits(done: subprocess.CompletedProcess[str]) -> list[list[Any]]:
        return [[hit["id"], hit["score"]] for hit in json.loads(done.stdout)]

    return {"build": {k: built.get(k) for k in ("documents", "vectors", "embedded", "seconds",
                                                "peak_memory_mb", "generation")},
            "build_s": round(build_s, 1),
            "text_search": hits(text), "text_search_s": round(text_s, 1),
            "image_search": hits(image), "image_search_s": round(image_s, 1),
            "verify": verify.stdout.strip()[-500:], "verify_s": round(verify_s, 1),
            "info": info.stdout.strip()[-800:]}


def write_pairs(rows: list[dict[str, Any]], n: int, folder: Path, seed: int = 0) -> Path:
    """SQuAD question -> its paragraph; hard negative: another paragraph of the same article.

    Every fourth positive also carries a photo (an interleaved document), so the image path of
    the trainer runs too.
    """
    rng = random.Random(seed)
    by_title: dict[str, list[str]] = {}
    for r in rows:
        contexts = by_title.setdefault(r["title"], [])
        if r["context"] not in contexts:
            contexts.append(r["context"])
    image_paths = []
    for i, image in enumerate(photos(448)):
        path = folder / f"photo{i}.png"
        image.save(path)
        image_paths.append(str(path))
    chosen = rng.sample(rows, n)
    pairs = []
    for i, r in enumerate(chosen):
        others = [c for c in by_title[r["title"]] if c != r["context"]] or [rows[0]["context"]]
        positive: Any = r["context"]
        if i % 4 == 0:
            positive = {"text": r["context"], "images": [image_paths[i % len(image_paths)]]}
        pairs.append({"query": r["question"], "positive": positive,
                      "negatives": [rng.choice(others)]})
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def section_training(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    import torch

    from nyx.encoders.vlm import VLMEncoder
    from training.cli import main as train_main

    work = Path(args.work)
    model_dir, run_dir = work / "model", work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumed earlier one
    model = state.pop("model", None)
    if model is None:
        model = build_model(state["processor"], state["shape"], "Qwen2_5_VL", args.device,
                            torch.bfloat16)
    t0 = time.perf_counter()
    model.save_pretrained(model_dir)
    state["processor"].save_pretrained(model_dir)
    saved = time.perf_counter() - t0
    del model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    batch = args.batch_size
    pairs = write_pairs(state["rows"], batch * (args.steps + 2), work)
    small = state["shape"] is SMALL
    dims = "[128,64,32]" if small else "[2048,1024,512,256]"
    common = [f"model.name={model_dir}", "model.local_files_only=true",
              f"model.device={args.device}", f"data.train={pairs}", "data.dev=null",
              f"output_dir={run_dir}", f"optim.batch_size={batch}", "optim.warmup_steps=2",
              "eval.every_steps=0", "log_every_steps=1", f"loss.matryoshka_dims={dims}",
              "loss.matryoshka_weights=[]"]
    if not args.device.startswith("cuda"):
        common += ["model.dtype=fp32", "optim.bf16=false"]
    recipe = str(Path(__file__).resolve().parents[1] / "training/configs/qwen2.5-vl-3b-lora.yaml")
    t0 = time.perf_counter()
    train_main([recipe, "--set", f"optim.max_steps={args.steps}",
                "--set", f"checkpoint.every_steps={args.steps}",
                *[x for kv in common for x in ("--set", kv)]])
    first_wall = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**30) if args.device.startswith("cuda") else None
    records = _metrics(run_dir)
    # Resume: two more steps from the checkpoint at --steps.
    t0 = time.perf_counter()
    train_main([recipe, "--set", f"optim.max_steps={args.steps + 2}",
                "--set", f"checkpoint.every_steps={args.steps}",
                *[x for kv in common for x in ("--set", kv)]])
    resume_wall = time.perf_counter() - t0
    resumed = _metrics(run_dir)[len(records):]
    step_seconds = [r["seconds"] for r in records[1:]]
    out: dict[str, Any] = {
        "recipe": "training/configs/qwen2.5-vl-3b-lora.yaml", "batch_size": batch,
        "hard_negatives": 1, "steps": len(records), "save_model_seconds": round(saved, 1),
        "first_run_wall_s": round(first_wall, 1), "resume_wall_s": round(resume_wall, 1),
        "losses": [round(r["loss"], 4) for r in records],
        "step_seconds_median": round(float(np.median(step_seconds)), 3) if step_seconds else None,
        "first_step_seconds": records[0]["seconds"] if records else None,
        "peak_gib": round(peak, 2) if peak is not None else None,
        "resumed_steps": [r["step"] for r in resumed],
    }
    if step_seconds:
        out["pairs_per_s"] = round(batch / out["step_seconds_median"], 1)
    adapter = run_dir / "final" / "adapter"
    questions = [r["question"] for r in state["rows"][:4]]
    dim = 64 if small else 1024
    kwargs = {"device": args.device, "local_files_only": True, "dim": dim,
              "dtype": "bf16" if args.device.startswith("cuda") else "fp32"}
    tuned = VLMEncoder(str(model_dir), adapter=adapter, **kwargs).encode_queries(questions)
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    plain = VLMEncoder(str(model_dir), **kwargs).encode_queries(questions)
    out["adapter_load"] = {"shape": list(tuned.shape),
                           "cosine_to_base_model": [round(float(c), 4)
                                                    for c in (tuned * plain).sum(1)]}
    return out


# -- driver -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD v1.1 dev JSON")
    parser.add_argument("--out", type=Path, default=Path("reports/gpu"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/nyx-gpu-check"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shape", choices=["3b", "small"], default="3b")
    parser.add_argument("--n-text", type=int, default=512)
    parser.add_argument("--n-images", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sections", default="environment,congruence,faiss,throughput,training")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)

    rows = squad_rows(args.squad)
    text = list(dict.fromkeys(r["context"] for r in rows)) + [r["question"] for r in rows]
    state: dict[str, Any] = {"rows": rows, "shape": QWEN25_VL_3B if args.shape == "3b" else SMALL}
    state["processor"] = build_processor(text, 32000 if args.shape == "3b" else 4096)
    results: dict[str, Any] = {"command": "python -m benchmarks.gpu_check " + " ".join(
        argv if argv is not None else sys.argv[1:]), "shape": args.shape}
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "environment": lambda: section_environment(args),
        "congruence": lambda: section_congruence(args),
        "faiss": lambda: section_faiss(args),
        "throughput": lambda: section_throughput(args, state),
        "training": lambda: section_training(args, state),
        "profile": lambda: section_profile(args, state),
        "clip": lambda: section_clip(args, state),
        "index": lambda: section_index(args, state),
    }
    failed = 0
    for name in args.sections.split(","):
        start = time.perf_counter()
        logger.info("section %s", name)
        try:
            results[name] = sections[name]()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - record it, go on
            failed += 1
            results[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()[-3000:]}
            logger.exception("section %s failed", name)
        results[name]["wall_s"] = round(time.perf_counter() - start, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    logger.info("wrote %s", args.out / "gpu_check.json")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
