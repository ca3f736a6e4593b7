"""The house rules that code review keeps missing, checked on the source (see STYLE.md)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nyx", "indexes", "ensemble", "training", "benchmarks", "serve")
#: Functions with one home each: a second definition is a look-alike that will drift.
ONE_OF_EACH = ("normalize_answer", "exact_match", "token_f1", "answer_contains", "minmax",
               "paired_bootstrap", "zscore", "recall_at_k", "reciprocal_rank_fusion", "comb_sum",
               "comb_mnz", "from_mapping", "read_mapping", "load_config")


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


#: Each search vocabulary, whole: written out anywhere but nyx/search_options.py it is a copy
#: that will drift (the CLI, HTTP, MCP and tool schemas are generated from SearchOptions).
VOCABULARIES = {"search modes": {"auto", "dense", "lexical", "hybrid"},
                "groupings": {"document", "chunk"}, "modalities": {"any", "text", "image"}}


def _string_sets(tree: ast.Module) -> list[set[str]]:
    """The string constants of every tuple, list or set display (a ``Literal[...]`` too)."""
    return [{e.value for e in node.elts if isinstance(e, ast.Constant)}
            for node in ast.walk(tree) if isinstance(node, ast.Tuple | ast.List | ast.Set)]


def test_one_home_per_search_vocabulary() -> None:
    copies = [f"{path.relative_to(ROOT)}: {name}" for path, tree in _trees().items()
              if path != ROOT / "nyx" / "search_options.py"
              for found in _string_sets(tree) for name, words in VOCABULARIES.items()
              if found == words]
    assert copies == []


def test_one_fusion_tail() -> None:
    """Every hybrid search (local or served by Qdrant) fuses through nyx.hybrid.fuse_candidates;
    only benchmarks that study fusion itself call fuse_scores directly."""
    callers = {str(path.relative_to(ROOT)) for path, tree in _trees().items()
               for node in ast.walk(tree) if isinstance(node, ast.Call)
               and getattr(node.func, "id", getattr(node.func, "attr", "")) == "fuse_scores"}
    assert {c for c in callers if not c.startswith("benchmarks/")} == {"nyx/hybrid.py"}
    tails = {str(path.relative_to(ROOT)) for path, tree in _trees().items()
             for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", "") == "fuse_candidates"}
    assert tails == {"nyx/candidates.py", "nyx/served_hybrid.py"}


SEARCH_CORE = ("nyx/candidates.py", "nyx/served_hybrid.py", "nyx/retriever.py")


def test_the_search_core_reads_no_private_attribute_of_another_object() -> None:
    """``r._modalities`` or ``getattr(index, "has_sparse")`` from outside is a capability that
    should be declared (STYLE.md); an object's own ``self._x`` is its business."""
    offenders = []
    for name in SEARCH_CORE:
        tree = ast.parse((ROOT / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and \
                    not node.attr.startswith("__") and \
                    not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                offenders.append(f"{name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr":
                offenders.append(f"{name}:{node.lineno} getattr")
    assert offenders == []


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts if parts[0] == "nyx" else ["nyx", *parts])


def _imports(path: Path, tree: ast.Module) -> set[str]:
    """Every nyx module ``path`` imports, at the top or inside a function (a function-level
    import that closes a cycle is still a cycle), leaving out ``if TYPE_CHECKING:`` blocks."""
    checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and getattr(node.test, "id", "") == "TYPE_CHECKING"
                for body in node.body for n in ast.walk(body)}
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {f for f in found if f.startswith("nyx.")}


def test_the_search_core_forms_no_import_cycle() -> None:
    graph = {_module_name(p): _imports(p, t) for p, t in _trees().items()}
    for name in SEARCH_CORE:
        start = _module_name(ROOT / name)
        seen, stack = set(), [start]
        while stack:  # every module reachable from start; start must not be among them
            for nxt in graph.get(stack.pop(), ()):
                if nxt in graph and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        assert start not in seen, f"{start} imports itself through another module"

#: What an encoder spec starts with (see nyx/encoders/spec.py, the one place that reads them).
SPEC_PREFIXES = ("clip:", "vlm:", "nyx-lite:")
SPEC_PARSER = re.compile(r"pars\w*spec|spec\w*pars|_family$")


def test_one_encoder_spec_parser() -> None:
    """``clip:ARCH@TAG`` and its kin were split in three places that disagreed; EncoderSpec
    parses and writes them, and no other function takes a spec apart by its prefix."""
    home = Path("nyx/encoders/spec.py")
    offenders = []
    for path, tree in _trees().items():
        rel = path.relative_to(ROOT)
        if rel == home:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    SPEC_PARSER.search(node.name):
                offenders.append(f"{rel}:{node.lineno} def {node.name}")
            elif isinstance(node, ast.Constant) and node.value in SPEC_PREFIXES:
                offenders.append(f"{rel}:{node.lineno} {node.value!r}")
            elif isinstance(node, ast.ClassDef) and node.name == "EncoderSpec":
                offenders.append(f"{rel}:{node.lineno} class EncoderSpec")
    assert offenders == []


def test_one_class_per_name() -> None:
    """``Generation`` named an index generation and an LLM output, ``Hit`` an index hit and a
    training stage's retrieved item: one name, one concept, one definition."""
    homes: dict[str, list[str]] = defaultdict(list)
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                homes[node.name].append(str(path.relative_to(ROOT)))
    assert {name: places for name, places in homes.items() if len(places) > 1} == {}
    assert homes["Generation"] == ["ensemble/types.py"]
    assert homes["Hit"] == ["indexes/base.py"]

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
