"""Name -> loader registry behind :func:`load_dataset`.

Built-in names load real data (see each module; the files of the first three are declared in
:mod:`nyx.benchmarks.datasets.sources`, found in ``$NYX_DATA_DIR``, the cache or their source):

=================  ===============================================  =========================
name               what                                             source
=================  ===============================================  =========================
``squad-dev``      2,067 paragraphs, 10,570 questions + answers     SQuAD v1.1 dev (official)
``squad-shifts-*`` ``amazon`` reviews / ``new-wiki`` (SQuAD format)  SQuADShifts website
``fashion-mnist``  10k 28x28 images, 10 class-prompt queries        apt dataset-fashion-mnist
``easy-vqa``       888 shape images, 24 colour+shape queries        pip easy-vqa
``easy-vqa-qa``    9,673 image questions with one-word answers      pip easy-vqa
=================  ===============================================  =========================

Prefixed names read user files: ``beir:FOLDER``, ``flashrag:FILE.jsonl``, ``mbeir:FILE.jsonl``
and ``hf:NAME[:CONFIG]``. Extra keyword options go to the loader (``split="train"``,
``cand_pool=...``, ``corpus=...``). Loader modules are imported on first use, so asking for
``beir:`` never imports the Hugging Face stack.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from nyx.benchmarks.datasets.base import DatasetUnavailableError, RetrievalDataset, check_limit
from nyx.benchmarks.datasets.sources import UNAVAILABLE

logger = logging.getLogger(__name__)

__all__ = ["available_datasets", "load_dataset", "register_dataset"]

Loader = Callable[..., RetrievalDataset]

#: name -> "module:function", imported lazily
_NAMED: dict[str, str] = {
    "squad-dev": "nyx.benchmarks.datasets.squad:load_squad_dev",
    "squad-shifts-amazon": "nyx.benchmarks.datasets.qa_domains:load_amazon",
    "squad-shifts-new-wiki": "nyx.benchmarks.datasets.qa_domains:load_new_wiki",
    "fashion-mnist": "nyx.benchmarks.datasets.fashion_mnist:load_fashion_mnist",
    "easy-vqa": "nyx.benchmarks.datasets.easy_vqa:load_easy_vqa",
    "easy-vqa-qa": "nyx.benchmarks.datasets.easy_vqa:load_easy_vqa_qa",
}
#: prefix -> loader taking the text after "prefix:" as its first argument
_PREFIXED: dict[str, str] = {
    "beir": "nyx.benchmarks.datasets.beir:load_beir",
    "flashrag": "nyx.benchmarks.datasets.flashrag:load_flashrag",
    "mbeir": "nyx.benchmarks.datasets.mbeir:load_mbeir",
    "hf": "nyx.benchmarks.datasets.huggingface:load_hf",
}
_CUSTOM: dict[str, Loader] = {}


def _resolve(target: str) -> Loader:
    module_name, _, function = target.partition(":")
    return getattr(importlib.import_module(module_name), function)


def register_dataset(name: str, loader: Loader, overwrite: bool = False) -> None:
    """Make ``load_dataset(name, limit=..., cache_dir=..., **options)`` call ``loader``."""
    if ":" in name:
        raise ValueError(f"data set names cannot contain ':' (reserved for prefixes): {name!r}")
    if not overwrite and (name in _NAMED or name in _CUSTOM):
        raise ValueError(f"data set {name!r} is already registered; pass overwrite=True")
    _CUSTOM[name] = loader


def available_datasets() -> list[str]:
    """Registered names plus the ``prefix:`` forms."""
    return sorted({*_NAMED, *_CUSTOM}) + [f"{prefix}:..." for prefix in _PREFIXED]


def load_dataset(
    name: str,
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> RetrievalDataset:
    """Load a data set by registry name (see the module docstring for the names).

    Args:
        name: ``"squad-dev"``, ``"fashion-mnist"``, ``"easy-vqa"``, ``"easy-vqa-qa"``,
            ``"beir:FOLDER"``, ``"flashrag:FILE"``, ``"mbeir:FILE"``, ``"hf:NAME[:CONFIG]"``
            or a name added with :func:`register_dataset`.
        limit: keep a prefix of the data: the first questions for query-centred sets, the
            first images for ``fashion-mnist`` and ``easy-vqa`` (each loader documents which).
        cache_dir: where fetched or generated files go; default ``$NYX_CACHE/datasets`` or
            ``~/.cache/nyx/datasets``.
        options: loader-specific keywords, e.g. ``split="train"``.
    """
    check_limit(limit)
    prefix, sep, rest = name.partition(":")
    if name in _CUSTOM:
        loader, args = _CUSTOM[name], ()
    elif name in _NAMED:
        loader, args = _resolve(_NAMED[name]), ()
    elif sep and prefix in _PREFIXED:
        if not rest:
            raise ValueError(f"{prefix}: needs a path or name after the colon, got {name!r}")
        loader, args = _resolve(_PREFIXED[prefix]), (rest,)
    elif name in UNAVAILABLE:
        raise DatasetUnavailableError(f"{name}: {UNAVAILABLE[name]}")
    else:
        raise KeyError(f"unknown data set {name!r}; available: {', '.join(available_datasets())}")
    start = time.perf_counter()
    try:
        dataset = loader(*args, limit=limit, cache_dir=cache_dir, **options)
    except TypeError as error:
        if "unexpected keyword" in str(error):
            raise TypeError(f"data set {name!r}: {error}") from error
        raise
    logger.info("loaded %r in %.1f s", dataset, time.perf_counter() - start)
    return dataset
