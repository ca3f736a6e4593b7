"""Tool retrieval: an index of tool descriptions, searched with Nyx like any other corpus.

>>> catalog = ToolCatalog.from_sources(["nyx", "botocore:s3,sqs", "my-api.yaml"])
>>> catalog.search("delete a message from a queue", k=3)
[{'name': 'sqs.DeleteMessage', 'score': ..., 'description': ..., 'schema': {...}}, ...]

A catalogue is a Nyx retriever (dense + BM25 hybrid over each tool's title, description and
parameter names) plus the tool schemas; :meth:`ToolCatalog.save` writes both into a folder
that :meth:`ToolCatalog.load` opens without re-embedding.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nyx.serve.catalog_formats import (
    ToolDescription,
    from_argparse,
    from_botocore,
    from_openapi,
    read_catalog_file,
)

logger = logging.getLogger(__name__)

__all__ = ["ToolCatalog", "botocore_tools", "load_tool_source", "nyx_tools"]

TOOLS_FILE = "tools.json"


class ToolCatalog:
    """Tool descriptions indexed for search by task description.

    Dense search over short tool texts finds candidates; an optional ``reranker`` (anything
    with ``rerank(query, docs)``, e.g. :class:`~nyx.ensemble.rerankers.CrossEncoderReranker`)
    reorders the top ``candidates`` by their longer descriptions.
    """

    def __init__(self, tools: Iterable[ToolDescription] = (), *, encoder: Any = None,
                 mode: str = "dense", reranker: Any = None, candidates: int = 10) -> None:
        from nyx import Retriever

        self.retriever = Retriever(encoder=encoder or "nyx-lite")
        self.mode = mode
        self.reranker = reranker
        self.candidates = candidates
        self.tools: dict[str, ToolDescription] = {}
        self.add(tools)

    def add(self, tools: Iterable[ToolDescription]) -> int:
        """Index ``tools`` (a later tool with the same name replaces the earlier one)."""
        from nyx import Item

        batch = {t.name: t for t in tools}
        if not batch:
            return 0
        start = time.perf_counter()
        self.retriever.add([Item([t.text()], {"source": t.source}, id=t.name)
                            for t in batch.values()], batch_size=64)
        self.tools.update(batch)
        logger.info("indexed %d tool descriptions in %.1f s", len(batch),
                    time.perf_counter() - start)
        return len(batch)

    def count(self) -> int:
        return len(self.tools)

    def search(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` tools that best match a task description, best first."""
        if not self.tools:
            return []
        n = max(k, self.candidates) if self.reranker is not None else k
        hits = [(h.id, float(h.score)) for h in
                self.retriever.search(query, k=min(n, len(self.tools)), mode=self.mode)
                if h.id in self.tools]
        if self.reranker is not None:
            from nyx.results import SearchResult

            docs = [SearchResult(i, s, text=self.tools[i].long_text()) for i, s in hits]
            hits = [(d.id, float(d.score)) for d in self.reranker.rerank(query, docs)]
        return [{"name": i, "score": round(s, 6), "description": self.tools[i].description,
                 "source": self.tools[i].source, "schema": self.tools[i].openai()}
                for i, s in hits[:k]]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.retriever.save(path / "index")
        (path / TOOLS_FILE).write_text(json.dumps([t.to_dict() for t in self.tools.values()]))
        return path

    @classmethod
    def load(cls, path: str | Path, encoder: Any = None) -> ToolCatalog:
        from nyx import Retriever

        path = Path(path)
        if not (path / TOOLS_FILE).is_file():
            raise FileNotFoundError(f"no tool catalogue in {path}: write one with "
                                    "ToolCatalog.save or pass a catalogue file instead")
        self = cls.__new__(cls)
        self.retriever = Retriever.load(path / "index", encoder=encoder)
        self.mode, self.reranker, self.candidates = "dense", None, 10
        data = json.loads((path / TOOLS_FILE).read_text())
        self.tools = {d["name"]: ToolDescription.from_dict(d) for d in data}
        return self

    @classmethod
    def from_sources(cls, sources: Sequence[str], *, encoder: Any = None,
                     reranker: Any = None,
                     cli_parser: argparse.ArgumentParser | None = None) -> ToolCatalog:
        """A catalogue of every tool in ``sources`` (see :func:`load_tool_source`); a saved
        catalogue folder is opened as is when it is the only source."""
        if len(sources) == 1 and not _builtin(sources[0]) and Path(sources[0]).is_dir():
            catalog = cls.load(sources[0], encoder=encoder)
            catalog.reranker = reranker
            return catalog
        tools = [t for source in sources for t in load_tool_source(source, cli_parser)]
        return cls(tools, encoder=encoder, reranker=reranker)

    def close(self) -> None:
        self.retriever.close()

    def __repr__(self) -> str:
        return f"ToolCatalog({self.count()} tools)"


def _builtin(source: str) -> bool:
    return source == "nyx" or source.startswith("botocore:")


def load_tool_source(source: str, cli_parser: argparse.ArgumentParser | None = None
                     ) -> list[ToolDescription]:
    """Tools from ``nyx`` (Nyx's HTTP API, and the commands of ``cli_parser``, e.g.
    ``nyx.cli.index.build_parser()``), ``botocore:SERVICE,...`` (AWS API operations from the
    installed botocore package) or a catalogue file."""
    if source == "nyx":
        return nyx_tools(cli_parser)
    if source.startswith("botocore:"):
        return botocore_tools(source.partition(":")[2].split(","))
    if Path(source).is_dir():
        return list(ToolCatalog.load(source).tools.values())
    return read_catalog_file(source)


def nyx_tools(cli_parser: argparse.ArgumentParser | None = None) -> list[ToolDescription]:
    """Nyx's own operations: the HTTP API's endpoints and, given ``nyx-index``'s parser, its
    subcommands. The parser is passed in (by the serve command) so that no library module
    imports a command-line module."""
    from nyx.serve.app import create_app

    cli = from_argparse(cli_parser, source="nyx-index") if cli_parser is not None else []
    http = from_openapi(create_app(None).openapi(), source="nyx-http")
    return [*cli, *http]


def botocore_tools(services: Iterable[str]) -> list[ToolDescription]:
    """The operations of AWS services, read from botocore's bundled service models."""
    try:
        import botocore
    except ImportError as error:
        raise ImportError("botocore catalogues need the botocore package: "
                          "pip install botocore") from error
    root = Path(botocore.__file__).parent / "data"
    tools: list[ToolDescription] = []
    for service in (s.strip() for s in services if s.strip()):
        folder = root / service
        versions = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        if not versions:
            known = ", ".join(sorted(p.name for p in root.iterdir() if p.is_dir())[:12])
            raise ValueError(f"botocore has no service {service!r}; e.g. {known}, ...")
        model_file = next((versions[-1] / n for n in ("service-2.json.gz", "service-2.json")
                           if (versions[-1] / n).is_file()), None)
        if model_file is None:
            raise FileNotFoundError(f"no service-2.json in {versions[-1]}")
        raw = model_file.read_bytes()
        model = json.loads(gzip.decompress(raw) if model_file.suffix == ".gz" else raw)
        tools += from_botocore(model, source=f"botocore:{service}")
    return tools
