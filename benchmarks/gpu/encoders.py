"""GPU sections for the encoders: environment, CPU/GPU congruence, FAISS, VLM throughput and
profile, open_clip."""

from __future__ import annotations

import argparse
import copy
import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.gpu.models import SMALL, build_model, build_processor, photos

logger = logging.getLogger("nyx.benchmarks.gpu_check")


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

    from nyx.indexes.faiss_config import gpu_available
    from nyx.indexes.faiss_index import FaissIndex

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
