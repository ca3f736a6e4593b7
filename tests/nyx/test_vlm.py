"""VLMEncoder end to end on a tiny randomly initialised Qwen2-VL with a real processor (offline)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nyx.benchmarks.gpu.models import build_processor
from nyx.content import ImagePart, Item, as_items
from tests.helpers import skimage_photo

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nyx.encoders.vlm import DEFAULT_QUERY_INSTRUCTION, VLMEncoder, last_token_pool  # noqa: E402

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "Please retrieve the most relevant document to answer the question.",
    "an astronaut floats in space next to a cup of coffee and a cat",
]
HIDDEN = 64
MAX_PIXELS = 112 * 112  # 8x8 patches of 14 px -> 16 image tokens after the 2x2 merge
TEXTS = ["fox", "a lazy dog sleeps all day long in the sun", "the quick brown cat"]


def tiny_processor(processor_class: str = "Qwen2VLProcessor") -> Any:
    """A real Qwen2VLProcessor: byte-level BPE tokenizer trained here, default image processor."""
    return build_processor(CORPUS, 400, processor_class)


def tiny_model(processor: Any, seed: int = 0, family: str = "Qwen2VL") -> Any:
    """A randomly initialised ``Qwen2VL`` or ``Qwen2_5_VL`` ...ForConditionalGeneration."""
    vocab = processor.tokenizer.get_vocab()
    vision = {"depth": 2, "hidden_size": HIDDEN, "num_heads": 2, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2}
    if family == "Qwen2VL":
        vision.update(embed_dim=32, mlp_ratio=2)
    else:  # Qwen2.5-VL: windowed attention, an MLP merger projecting to out_hidden_size
        vision.update(hidden_size=32, intermediate_size=64, out_hidden_size=HIDDEN,
                      window_size=56, fullatt_block_indexes=[1])
    config = getattr(transformers, f"{family}Config")(
        text_config={
            "vocab_size": len(vocab), "hidden_size": HIDDEN, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 2048, "bos_token_id": None,
            "eos_token_id": vocab["<|im_end|>"], "pad_token_id": vocab["<|endoftext|>"],
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [2, 3, 3]},
        },
        vision_config=vision,
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    return getattr(transformers, f"{family}ForConditionalGeneration")(config).eval()


@pytest.fixture(scope="module")
def processor() -> Any:
    return tiny_processor()


@pytest.fixture(scope="module")
def model(processor: Any) -> Any:
    return tiny_model(processor)


@pytest.fixture(scope="module")
def saved(model: Any, processor: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-qwen2-vl")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoder(model: Any, processor: Any) -> VLMEncoder:
    return VLMEncoder("tiny-qwen2-vl", model_obj=model, processor=processor,
                      max_pixels=MAX_PIXELS)


@pytest.fixture(scope="module")
def photos() -> dict[str, Any]:
    return {name: skimage_photo(name) for name in ("astronaut", "coffee", "chelsea")}


def test_attributes(encoder: VLMEncoder) -> None:
    assert encoder.name == "vlm:tiny-qwen2-vl"
    assert encoder.dim == encoder.full_dim == HIDDEN
    assert encoder.device == "cpu"
    assert "dim64" in encoder.version and "adapter:none" in encoder.version
    assert encoder.processor.tokenizer.padding_side == "left"


def test_shapes_and_unit_norms(encoder: VLMEncoder, photos) -> None:
    items = [*TEXTS, photos["coffee"], ["a cat", photos["chelsea"], "sits on a mat"]]
    for vectors in (encoder.encode_documents(items), encoder.encode_queries(items)):
        assert vectors.shape == (len(items), HIDDEN)
        assert vectors.dtype == np.float32
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_pooling_is_the_last_real_token(encoder: VLMEncoder) -> None:
    texts = encoder.render([encoder.build_content(Item.of(t), is_query=False)[0] for t in TEXTS])
    inputs = encoder.processor(text=texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder.model.model(**inputs).last_hidden_state
    assert (inputs["attention_mask"][:, -1] == 1).all()  # left padding: the last column is real
    torch.testing.assert_close(last_token_pool(hidden, inputs["attention_mask"]), hidden[:, -1])

    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]])
    states = torch.arange(12.0).reshape(3, 4, 1)
    assert last_token_pool(states, mask).flatten().tolist() == [1.0, 6.0, 11.0]


def test_left_and_right_padding_agree(encoder: VLMEncoder, photos) -> None:
    items = [*TEXTS, ["the fox", photos["coffee"]], photos["chelsea"]]
    left = encoder.encode_documents(items)
    encoder.processor.tokenizer.padding_side = "right"
    try:
        right = encoder.encode_documents(items)
    finally:
        encoder.processor.tokenizer.padding_side = "left"
    np.testing.assert_allclose(left, right, atol=1e-5)


def test_batch_equals_one_by_one(encoder: VLMEncoder, photos) -> None:
    items = [*TEXTS, photos["astronaut"], ["coffee time", photos["coffee"]]]
    for encode in (encoder.encode_documents, encoder.encode_queries):
        batched = encode(items, batch_size=len(items))
        single = np.concatenate([encode([item]) for item in items])
        np.testing.assert_allclose(batched, single, atol=1e-5)


def test_queries_carry_the_instruction(encoder: VLMEncoder, photos) -> None:
    query = encoder.render([encoder.build_content(Item.of("who is it?"), is_query=True)[0]])[0]
    assert DEFAULT_QUERY_INSTRUCTION.format(query="who is it?") in query
    assert query.endswith("<|im_start|>assistant\n")
    document = encoder.render([encoder.build_content(Item.of("who is it?"), is_query=False)[0]])[0]
    assert "retrieve" not in document
    assert not np.allclose(encoder.encode_queries("who is it?"),
                           encoder.encode_documents("who is it?"), atol=1e-3)

    content, images = encoder.build_content(
        Item(["who is", ImagePart(photos["chelsea"]), "?"]), is_query=True)
    prefix = DEFAULT_QUERY_INSTRUCTION.split("{query}")[0]
    assert [entry["type"] for entry in content] == ["text", "image", "text"]
    assert content[0]["text"] == prefix + "who is" and content[2]["text"] == "?"
    assert len(images) == 1
    image_query, _ = encoder.build_content(Item.of(photos["chelsea"]), is_query=True)
    assert image_query == [{"type": "text", "text": prefix}, {"type": "image"}]


def test_instruction_without_slot_precedes_the_query(model: Any, processor: Any) -> None:
    encoder = VLMEncoder(model_obj=model, processor=processor, query_instruction="Find it.")
    content, _ = encoder.build_content(Item(["first", "second"]), is_query=True)
    assert content == [{"type": "text", "text": "Find it.\nfirst\nsecond"}]


def test_instruction_can_be_turned_off(model: Any, processor: Any) -> None:
    plain = VLMEncoder(model_obj=model, processor=processor, query_instruction="")
    np.testing.assert_allclose(plain.encode_queries(TEXTS), plain.encode_documents(TEXTS),
                               atol=1e-6)
    with pytest.raises(ValueError, match="at most once"):
        VLMEncoder(model_obj=model, processor=processor, query_instruction="{query} {query}")


def test_image_tokens_reach_the_model(encoder: VLMEncoder, photos) -> None:
    content, images = encoder.build_content(Item.of(["a cat", photos["chelsea"]]), is_query=False)
    texts = encoder.render([content])
    inputs = encoder.processor(text=texts, images=images, return_tensors="pt",
                               **encoder._image_kwargs)
    merged = int(inputs["image_grid_thw"].prod()) // 4
    assert 0 < merged <= MAX_PIXELS // (28 * 28)  # max_pixels reached the image processor
    assert int((inputs["input_ids"] == encoder.model.config.image_token_id).sum()) == merged

    cat, coffee = encoder.encode_documents([photos["chelsea"], photos["coffee"]])
    assert not np.allclose(cat, coffee, atol=1e-3)
    np.testing.assert_allclose(encoder.encode_documents(Item(["a", ImagePart(photos["coffee"])])),
                               encoder.encode_documents([["a", photos["coffee"]]]), atol=1e-6)


def test_matryoshka_truncation(model: Any, processor: Any, encoder: VLMEncoder, photos) -> None:
    short = VLMEncoder(model_obj=model, processor=processor, dim=16, max_pixels=MAX_PIXELS)
    assert short.dim == 16 and "dim16" in short.version
    items = [*TEXTS, photos["coffee"]]
    full, truncated = encoder.encode_queries(items), short.encode_queries(items)
    prefix = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    assert truncated.shape == (len(items), 16)
    np.testing.assert_allclose(truncated, prefix, atol=1e-5)
    with pytest.raises(ValueError, match="hidden size"):
        VLMEncoder(model_obj=model, processor=processor, dim=HIDDEN + 1)


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_dora_adapter_changes_vectors(saved: Path, encoder: VLMEncoder,
                                      tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    base = transformers.Qwen2VLForConditionalGeneration.from_pretrained(saved)
    # init_lora_weights=False: random B matrices, so the adapter is not the identity.
    adapted = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, use_dora=True,
                                              target_modules=["q_proj", "v_proj"],
                                              init_lora_weights=False))
    adapted.save_pretrained(tmp_path / "dora")

    with_adapter = VLMEncoder(saved, adapter=tmp_path / "dora", local_files_only=True,
                              max_pixels=MAX_PIXELS)
    assert "adapter:dora@sha256:" in with_adapter.version
    assert with_adapter.version != encoder.version
    before, after = encoder.encode_documents(TEXTS), with_adapter.encode_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(after, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(before, after, atol=1e-3)
    # The saved adapter, loaded and merged, equals the in-memory (unmerged) peft model.
    unmerged = VLMEncoder(model_obj=adapted, processor=encoder.processor)
    np.testing.assert_allclose(after, unmerged.encode_documents(TEXTS), atol=1e-5)

    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        VLMEncoder(saved, adapter=tmp_path, local_files_only=True)


def test_load_from_a_local_folder(saved: Path, encoder: VLMEncoder, photos) -> None:
    loaded = VLMEncoder(str(saved), local_files_only=True, device="cpu", max_pixels=MAX_PIXELS)
    assert loaded.name == f"vlm:{saved}"
    assert loaded.uses_chat_template
    items = [*TEXTS, photos["coffee"], ["a cat", photos["chelsea"]]]
    np.testing.assert_allclose(loaded.encode_documents(items), encoder.encode_documents(items),
                               atol=1e-5)
    np.testing.assert_allclose(loaded.encode_queries(items), encoder.encode_queries(items),
                               atol=1e-5)


def test_missing_local_model_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "no-model-here"
    with pytest.raises(FileNotFoundError, match=f"model folder not found: {missing}"):
        VLMEncoder(missing, local_files_only=True)
    with pytest.raises((OSError, ValueError), match="Pass a local folder"):
        VLMEncoder(tmp_path, local_files_only=True)  # a folder, but no config.json
    with pytest.raises(OSError, match="Pass a local folder"):
        VLMEncoder("nyx-test/not-a-cached-model", local_files_only=True)


def test_raw_text_without_chat_template(model: Any, processor: Any, photos) -> None:
    raw = VLMEncoder(model_obj=model, processor=processor, max_pixels=MAX_PIXELS,
                     chat_template=False)
    templated = VLMEncoder(model_obj=model, processor=processor, max_pixels=MAX_PIXELS)
    assert raw.version == templated.version + "+raw"
    content, _ = raw.build_content(Item.of(["a cat", photos["chelsea"]]), is_query=False)
    assert raw.render([content]) == ["a cat<|vision_start|><|image_pad|><|vision_end|>"]
    vectors = raw.encode_documents(["a cat", ["a cat", photos["chelsea"]]])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # The chat turn around the item changes what the last token has seen.
    assert not np.allclose(vectors, templated.encode_documents(["a cat", ["a cat",
                                                                        photos["chelsea"]]]))


def test_chat_template_true_needs_a_template(model: Any, processor: Any) -> None:
    bare = copy.copy(processor)
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        VLMEncoder(model_obj=model, processor=bare, chat_template=True)
    assert not VLMEncoder(model_obj=model, processor=bare).uses_chat_template


def test_argument_errors(model: Any, processor: Any) -> None:
    with pytest.raises(ValueError, match="together"):
        VLMEncoder(model_obj=model)
    with pytest.raises(ValueError, match="min_pixels"):
        VLMEncoder(model_obj=model, processor=processor, min_pixels=10_000, max_pixels=100)
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        VLMEncoder(model_obj=model, processor=processor, pad_to_multiple_of=0)


def test_padding_to_a_multiple_changes_no_vector(model: Any, processor: Any, photos) -> None:
    items = [*TEXTS, ["coffee time", photos["coffee"], "and a cat"]]
    plain = VLMEncoder(model_obj=model, processor=processor, max_pixels=MAX_PIXELS)
    padded = VLMEncoder(model_obj=model, processor=processor, max_pixels=MAX_PIXELS,
                        pad_to_multiple_of=16)
    assert padded.prepare_inputs(as_items(items[:2]), is_query=True)["input_ids"].shape[1] % 16 == 0
    np.testing.assert_allclose(padded.encode_queries(items, batch_size=2),
                               plain.encode_queries(items, batch_size=2), atol=1e-5)


def test_qwen2_5_vl_family(photos) -> None:
    processor = tiny_processor("Qwen2_5_VLProcessor")
    encoder = VLMEncoder(model_obj=tiny_model(processor, family="Qwen2_5_VL"),
                         processor=processor, max_pixels=MAX_PIXELS, dim=32)
    items = [*TEXTS, photos["astronaut"], ["coffee time", photos["coffee"], "and a cat"]]
    batched = encoder.encode_queries(items)
    assert batched.shape == (len(items), 32)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, rtol=1e-5)
    single = np.concatenate([encoder.encode_queries([item]) for item in items])
    np.testing.assert_allclose(batched, single, atol=1e-5)
