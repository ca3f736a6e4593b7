"""Offline stand-ins for the GPU checks: a Qwen2-VL-family processor whose BPE tokenizer is
trained here, randomly initialised models of published shapes, SQuAD rows and photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
