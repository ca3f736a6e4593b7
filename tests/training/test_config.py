"""Run configs: YAML round trip, helpful errors, CLI overrides, shipped configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from nyx.training.config import TrainConfig, load_train_config, parse_overrides

CONFIGS = sorted((Path(__file__).parents[2] / "training" / "configs").glob("*.yaml"))


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = TrainConfig.from_dict({"loss": {"matryoshka_dims": [64, 32],
                                             "matryoshka_weights": [1, 0.5]},
                                    "model": {"kind": "vlm", "adapter": {"dora": True}}})
    assert config.loss.matryoshka_weights == [1.0, 0.5]
    assert TrainConfig.from_yaml(config.to_yaml(tmp_path / "c.yaml")) == config


@pytest.mark.parametrize(("data", "message"), [
    ({"optim": {"learning_rate": 1}}, r"unknown key\(s\) \['learning_rate'\] in config.optim"),
    ({"model": {"kind": "clip"}}, "config.model.kind must be one of"),
    ({"optim": {"batch_size": "32"}}, "config.optim.batch_size must be int"),
    ({"loss": {"matryoshka_dims": 512}}, "must be a list"),
    ({"loss": {"temperature": "cold"}}, "must be a number"),
])
def test_bad_configs_name_the_key(data: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        TrainConfig.from_dict(data)


def test_cli_overrides(tmp_path: Path) -> None:
    assert parse_overrides(["optim.lr=0.001", "loss.matryoshka_dims=[8, 4]", "seed=3"]) == {
        "optim": {"lr": 0.001}, "loss": {"matryoshka_dims": [8, 4]}, "seed": 3}
    path = TrainConfig().to_yaml(tmp_path / "base.yaml")
    config = load_train_config(str(path), ["optim.max_steps=7", "model.adapter.r=4",
                                           "optim.lr=3e-4"], stage="nyxqa")
    assert (config.optim.max_steps, config.model.adapter.r, config.stage) == (7, 4, "nyxqa")
    assert config.optim.lr == 3e-4  # YAML 1.1 reads "3e-4" as a string; the config does not
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["optim.lr"])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    config = TrainConfig.from_yaml(path)
    dims = config.loss.matryoshka_dims
    assert dims == sorted(dims, reverse=True)
    assert not config.loss.matryoshka_weights or len(config.loss.matryoshka_weights) == len(dims)
