"""Shared fixtures: real offline models, loaded once per test session."""

from __future__ import annotations

import os

import pytest

# `data` tests fail with one line naming a missing file; pytester checks that plugin.
pytest_plugins = ["pytester", "tests.data_missing"]

# Tests must never reach a model hub; the real models ship inside PyPI packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def lite():
    from nyx import load_encoder

    return load_encoder("nyx-lite")
