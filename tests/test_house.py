"""The house rules that code review keeps missing, checked on the source (see STYLE.md)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nyx", "indexes", "ensemble", "training", "benchmarks", "serve")
#: Functions with one home each: a second definition is a look-alike that will drift.
ONE_OF_EACH = ("normalize_answer", "exact_match", "token_f1", "answer_contains", "minmax",
               "zscore", "recall_at_k", "reciprocal_rank_fusion", "comb_sum", "comb_mnz")


def _modules() -> list[Path]:
    return [p for pkg in PACKAGES if (ROOT / pkg).is_dir() for p in (ROOT / pkg).rglob("*.py")]


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in _modules()}


def test_one_definition_of_each_shared_function() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.name.lstrip("_") in ONE_OF_EACH:
                homes[node.name.lstrip("_")].append(str(path.relative_to(ROOT)))
    assert {name: places for name, places in homes.items() if len(places) > 1} == {}
    assert set(homes) == set(ONE_OF_EACH)


def test_module_file_names_are_not_reused_for_unrelated_things() -> None:
    """``corpus.py`` twice (files in, passages for the ensemble) was one name for two ideas."""
    names: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        if path.name not in {"__init__.py", "cli.py", "base.py", "config.py", "types.py",
                             "__main__.py"}:
            names[path.name].append(str(path.relative_to(ROOT)))
    assert names["corpus.py"] == ["nyx/corpus.py"]


def _is_cli(module: str) -> bool:
    parts = module.split(".")
    return parts[-1] == "cli" or parts[:2] == ["nyx", "cli"]


def test_no_library_module_imports_a_command_line_module() -> None:
    """Command-line modules parse arguments and call the library, never the other way."""
    offenders = []
    for path, tree in _trees().items():
        rel = path.relative_to(ROOT)
        if rel.name in ("cli.py", "__main__.py") or rel.parts[:2] == ("nyx", "cli"):
            continue
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{rel}: {n}" for n in names if _is_cli(n)]
    assert offenders == []


def test_serving_lives_in_its_own_room() -> None:
    """HTTP, MCP, the page and the tool catalogue are nyx.serve; the ensemble and the retriever
    never import it (it sits above both)."""
    for path, tree in _trees().items():
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("serve", "benchmarks"):
            continue
        for node in ast.walk(tree):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module == "nyx.serve" or module.startswith("nyx.serve."):
                raise AssertionError(f"{rel} imports {node.module}")
    assert not (ROOT / "ensemble" / "server").exists()


def _annotated_fields(node: ast.ClassDef) -> set[str]:
    return {s.target.id for s in node.body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


def test_one_definition_of_the_hit_type() -> None:
    """A retrieved document has one type, ``nyx.results.SearchResult``, from
    ``Retriever.search`` through the ensemble (retriever modules, rerankers, pipelines,
    ``Answer.documents``), the training stages' searchers, the agent tools and the HTTP API's
    rows (its ``to_dict`` plus a snippet) to the command line (its ``from_dict``). It used to
    change shape on the way (``RetrievedDoc`` with scores folded into metadata, a training
    ``Hit``, rows the command line picked apart).

    Any class declaring an ``id`` and a ``score`` (dataclass, TypedDict, NamedTuple, pydantic
    model) is a ranked record. The one other allowed is ``indexes``' vector-index ``Hit``: an
    id and a similarity one level down, from an index that knows nothing of documents and
    cannot import ``nyx`` (``indexes`` sits below it)."""
    ranked = sorted(f"{path.relative_to(ROOT)}:{node.name}"
                    for path, tree in _trees().items() for node in ast.walk(tree)
                    if isinstance(node, ast.ClassDef)
                    and {"id", "score"} <= _annotated_fields(node))
    assert ranked == ["indexes/base.py:Hit", "nyx/results.py:SearchResult"]
