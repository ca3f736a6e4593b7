"""Components declare each setting once: in ``__init__``. The config, ``to_config()`` and the
cache id all derive from it, and the registry is a name -> "module:Class" map."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nyx.ensemble.config import Configurable, _init_parameters, build, to_config
from nyx.ensemble.passages import Corpus
from nyx.ensemble.registry import COMPONENT_TYPES, component_class, type_name

PASSAGES = Corpus({"a": "Paris is the capital of France.", "b": "Rome is in Italy."})


def _bm25() -> Any:
    return component_class("bm25")(PASSAGES)


def _llm(model: str = "smollm2-135m-instruct") -> Any:
    return component_class("transformers")(model)  # loads nothing until it generates


#: Components whose output is cached, each with the arguments that make one.
BASES: dict[str, Any] = {
    "bm25": lambda: {"corpus": PASSAGES},
    "nyx": lambda: {"corpus": PASSAGES},
    "fused": lambda: {"retrievers": [_bm25(), _bm25()]},
    "reranked": lambda: {"retriever": _bm25(),
                         "reranker": component_class("cross_encoder")()},
    "cross_encoder": lambda: {},
    "llm_listwise": lambda: {"generator": _llm()},
    # an explicit dtype: with "auto" the device picks it, and then the device matters
    "transformers": lambda: {"dtype": "float32"},
    "vllm": lambda: {"model": "some/model"},
    "openai": lambda: {"base_url": "http://127.0.0.1:9/v1"},
    "voting": lambda: {"generators": [_llm(), _llm("other")]},
}
#: Another valid value for each setting, by name.
OTHER: dict[str, Any] = {
    "k1": 1.2, "b": 0.4, "encoder": "clip:ViT-B-32@openai", "mode": "dense", "method": "combsum",
    "candidates": 7, "rrf_k": 10.0, "tau": 2.5, "weights": [1.0, 3.0], "model_dir": "/models/x",
    "max_length": 128, "batch_size": 3, "num_threads": 2, "window": 4, "max_words": 30,
    "max_new_tokens": 9, "style": "chat", "model": "another/model", "device": "cuda:1",
    "dtype": "float16", "chat_template": True, "generation": {"temperature": 0.7},
    "gpu_memory_utilization": 0.5, "max_model_len": 1024, "base_url": "http://127.0.0.1:8/v1",
    "api_key_env": "OTHER_KEY", "timeout_s": 5.0, "max_retries": 1, "backoff_s": 2.0,
    "max_concurrency": 2, "logprobs": False, "measure": "nll", "prefix_cache": False,
}
#: Settings that cannot change alone (another source of passages than ``corpus``).
EXCLUSIVE = {("nyx", "index")}


def _changed(name: str, field: str) -> tuple[Any, Any]:
    cls = component_class(name)
    base = BASES[name]()
    if field not in OTHER:
        raise AssertionError(f"{name}.{field} is a new setting: add another value for it to "
                             "OTHER so this test checks whether it changes the cache id")
    value = OTHER[field]
    if name == "voting" and field == "method":
        value = "entropy"
    return cls(**base), cls(**{**base, field: value})


@pytest.mark.parametrize("name", sorted(BASES))
def test_every_setting_that_changes_output_changes_the_cache_id(name: str) -> None:
    cls = component_class(name)
    assert cls.config_fields, name
    for field in cls.config_fields:
        if (name, field) in EXCLUSIVE:
            continue
        before, after = _changed(name, field)
        if field in cls.volatile_fields:
            assert before.cache_id == after.cache_id, f"{name}.{field} is declared volatile"
        else:
            assert before.cache_id != after.cache_id, f"{name}.{field} is not in the cache id"


def test_a_child_setting_changes_its_parents_cache_id() -> None:
    ranked = component_class("reranked")
    first = ranked(_bm25(), component_class("cross_encoder")(max_length=256))
    second = ranked(_bm25(), component_class("cross_encoder")(max_length=128))
    assert first.cache_id != second.cache_id
    listwise = component_class("llm_listwise")
    assert listwise(_llm()).cache_id != listwise(_llm("other")).cache_id
    different_passages = component_class("bm25")(Corpus({"a": "Paris."}))
    assert different_passages.cache_id != _bm25().cache_id


@pytest.mark.parametrize("name", sorted(COMPONENT_TYPES))
def test_config_fields_are_the_init_parameters(name: str) -> None:
    cls = component_class(name)
    assert type_name(cls) == name
    params = [p for p in _init_parameters(cls) if p != "cache"]
    assert set(cls.config_fields) | set(cls.component_fields) == set(params)
    assert not set(cls.config_fields) & set(cls.component_fields)
    assert set(cls.volatile_fields) <= set(params)


def test_to_config_and_build_round_trip_every_declared_setting() -> None:
    voting = component_class("voting")([_llm(), _llm("other")], method="entropy", tau=0.5)
    doc = to_config(voting)
    assert doc["pipeline"]["tau"] == 0.5 and doc["pipeline"]["method"] == "entropy"
    again = build(doc)
    assert again.cache_id == voting.cache_id
    assert to_config(again) == doc


def test_building_imports_only_the_component_it_needs() -> None:
    """No registry filled by import side effects: the config module imports no component, and
    building a BM25 retriever imports none of the pipelines or generators."""
    code = ("import sys\n"
            "import nyx.ensemble.config as c\n"
            "before = sorted(m for m in sys.modules if m.startswith('nyx.ensemble.'))\n"
            "c.ConfigBuilder().build({'type': 'majority_vote'})\n"
            "after = sorted(m for m in sys.modules if m.startswith('nyx.ensemble.'))\n"
            "print(before); print(after)\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    before, after = eval(out[0]), eval(out[1])  # noqa: S307 - our own repr of two lists
    assert not any(".pipelines." in m or ".generators." in m for m in before), before
    assert "nyx.ensemble.aggregation.aggregators" in after
    assert not any(".pipelines." in m for m in after), after


def test_a_component_outside_the_registry_names_itself() -> None:
    class Custom(Configurable):
        config_type = "custom_test_type"

        def __init__(self, size: int = 1) -> None:
            self.size = size

    assert Custom.config_fields == ("size",)
    assert build({"type": "custom_test_type", "size": 4}, types=[Custom]).size == 4
    with pytest.raises(ValueError, match="unknown component type 'custom_test_type'"):
        build({"type": "custom_test_type"})


def test_a_config_can_name_a_class_by_module_path() -> None:
    built = build({"type": "tests.ensemble.scripted:ScriptedGenerator", "text": "Rome"})
    assert built.text == "Rome"
    assert to_config(built)["pipeline"]["type"] == "tests.ensemble.scripted:ScriptedGenerator"
    with pytest.raises(ValueError, match="not a component class"):
        build({"type": "pathlib:Path"})
    with pytest.raises(ValueError, match="cannot be imported"):
        build({"type": "no.such.module:Thing"})
