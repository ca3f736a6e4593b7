"""The one filter grammar (issue #27, item 6): malformed expressions are errors naming the
expression and the fix, globs and prefixes on strings, expressions and dicts give equal
filters, unknown metadata fields are errors, and Qdrant translates what it can match."""

from __future__ import annotations

import numpy as np
import pytest

from nyx.indexes.docstore import DocStore, Document
from nyx.indexes.filters import AnyOf, Equals, Filter, Glob, Prefix, Range, parse_expressions

DOCS = {
    "a": {"source": "doc/ca-certificates/README", "year": 2024, "kind": "text"},
    "b": {"source": "doc/ca-certificates/changelog.gz", "year": 2023, "kind": "text"},
    "c": {"source": "doc/bash/README", "year": 2025, "topic": ["shell", "doc/*"]},
    "d": {"source": "src/Doc/x?.md", "year": 2020, "kind": "image"},
    "e": {"source": 7, "year": "2024"},  # a number where others have strings, and vice versa
}


def _matching(flt: Filter) -> set[str]:
    return {doc_id for doc_id, meta in DOCS.items() if flt.matches(meta)}


# -- malformed expressions -----------------------------------------------------------------

@pytest.mark.parametrize(("expression", "fragments"), [
    # These four used to parse as equality on a string (">2024", "<3", "=2024", ">5") and so
    # silently matched nothing.
    ("year=>2024", ["'year=>2024'", "unknown operator '=>'", "write year>=2024"]),
    ("year=<3", ["unknown operator '=<'", "write year<=3"]),
    ("year==2024", ["unknown operator '=='", "write year=2024"]),
    ("year = >5", ["unknown operator '= >'", "write year>=5"]),
    ("year > =5", ["unknown operator '> ='", "write year>=5"]),
    ("year!=3", ["unknown operator '!='", "no negation"]),
    ("year<>3", ["unknown operator '<>'", "no negation"]),
    ("year>=abc", ["'year>=abc'", "'abc' is not a number", ">= needs a number"]),
    ('year>="2024"', ["is not a number"]),
    ("year>=1|2", ["takes one number"]),
    ("year>=", ["'year>='", "no value after '>='", "write year>=VALUE"]),
    ("year=", ["no value after '='"]),
    ("=x", ["'=x'", "no key"]),
    ("  >= 3", ["no key"]),
    ("year", ["'year'", "no operator"]),
    ("lang=en;year", ["'year'", "no operator"]),
    ("tag=a|", ["'tag=a|'", "empty alternative"]),
    ("tag=|a", ["empty alternative"]),
    ('name="abc', ["quote", "not closed"]),
    ('name="abc"def', ["not closed (or text follows it)"]),
    ("source=doc/*|src/*", ["glob ('doc/*') cannot be one of a|b"]),
])
def test_malformed_expressions_raise_naming_the_expression(expression, fragments):
    with pytest.raises(ValueError) as caught:
        Filter.coerce(expression)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("expression", "expected"), [
    ("lang=en", [("lang", "en")]),
    ("year=2004", [("year", 2004)]),
    ("rating=3.5", [("rating", 3.5)]),
    ('code="007"', [("code", "007")]),
    ("code='007'", [("code", "007")]),
    ('x=""', [("x", "")]),
    ("title = hello world ", [("title", "hello world")]),
    ("author=O'Brien", [("author", "O'Brien")]),
    ("url=http://x/p=1", [("url", "http://x/p=1")]),
    ('op="=>x"', [("op", "=>x")]),
    ('x="a;b"|c', [("x", {"any": ["a;b", "c"]})]),
    ('x="a|b"', [("x", "a|b")]),
    ("year>=2000; year<2020 ;lang=en|de;", [
        ("year", {"gte": 2000}), ("year", {"lt": 2020}), ("lang", {"any": ["en", "de"]})]),
    ("source=doc/*", [("source", {"glob": "doc/*"})]),
    ("title=What?", [("title", {"glob": "What?"})]),
    ('source="doc/*"', [("source", "doc/*")]),
    ("", []),
    (" ; ", []),
])
def test_valid_expressions(expression, expected):
    assert parse_expressions(expression) == expected


# -- globs and prefixes --------------------------------------------------------------------

def test_glob_is_a_condition_in_both_forms():
    from_cli = Filter.coerce("source=doc/ca-certificates/*")
    assert from_cli == Filter.coerce({"source": {"glob": "doc/ca-certificates/*"}})
    assert from_cli == Filter((Glob("source", "doc/ca-certificates/*"),))
    assert Filter.coerce(from_cli.to_dict()) == from_cli
    assert Filter.coerce({"source": {"prefix": "doc/"}}) == Filter((Prefix("source", "doc/"),))
    # In the dict (JSON) form a plain string is literal, as a quoted expression is.
    assert Filter.coerce({"source": "doc/*"}) == Filter.coerce('source="doc/*"')


@pytest.mark.parametrize(("spec", "expected"), [
    ("source=doc/ca-certificates/*", {"a", "b"}),
    ("source=doc/*", {"a", "b", "c"}),  # * matches across /
    ("source=*README", {"a", "c"}),
    ("source=doc/*/README", {"a", "c"}),
    ("source=doc/bash/READM?", {"c"}),
    ("source=doc/bash/READ?", set()),  # ? is exactly one character; the whole value matches
    ("source=DOC/*", set()),  # case-sensitive
    ("source=src/Doc/x[?].md", set()),  # [ ] are literal, not a character class
    ('source="src/Doc/x?.md"', {"d"}),  # quoted: ? is literal
    ("source=*", {"a", "b", "c", "d"}),  # strings only: e's source is a number
    ("year=202*", {"e"}),  # globs match strings only: e's year "2024", no int year
    ("topic=doc/?", {"c"}),  # a list matches when any element does
    ('topic="doc/*"', {"c"}),
    ({"source": {"prefix": "doc/ca"}}, {"a", "b"}),
    ({"source": {"prefix": "doc/*"}}, set()),  # a prefix has no wildcards
    ({"source": {"prefix": ""}}, {"a", "b", "c", "d"}),
    ({"source": {"glob": "doc/bash/*"}, "year": {"gte": 2024}}, {"c"}),
    ("source=doc/*; year>=2024", {"a", "c"}),
])
def test_glob_and_prefix_matching(spec, expected):
    assert _matching(Filter.coerce(spec)) == expected


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"source": {"glob": 3}}, "'glob' needs a string"),
    ({"source": {"prefix": ["a"]}}, "'prefix' needs a string"),
    ({"source": {"glob": "a*", "prefix": "a"}}, "cannot be combined"),
    ({"source": {"glob": "a*", "gte": 1}}, "cannot be combined"),
])
def test_bad_pattern_dicts(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        Filter.parse(spec)


def test_glob_prefix_property():
    assert Glob("k", "doc/*").prefix == "doc/"
    assert Glob("k", "*").prefix == ""
    assert Glob("k", "doc/*.md").prefix is None
    assert Glob("k", "do?/*").prefix is None
    assert Glob("k", "doc").prefix is None


# -- one grammar: expressions, lists and dicts are equal ---------------------------------

def test_expressions_lists_and_dicts_give_equal_filters():
    text = "lang=en; year>=2000; year<2010; tags=news|blog; source=doc/*; code=\"007\""
    as_list = ["lang=en", "year>=2000", "year<2010", "tags=news|blog", "source=doc/*",
               'code="007"']
    as_dict = {"lang": "en", "year": {"gte": 2000, "lt": 2010},
               "tags": {"any": ["news", "blog"]}, "source": {"glob": "doc/*"}, "code": "007"}
    expected = Filter((Equals("lang", "en"), Range("year", gte=2000, lt=2010),
                       AnyOf("tags", ("news", "blog")), Glob("source", "doc/*"),
                       Equals("code", "007")))
    assert Filter.coerce(text) == Filter.coerce(as_list) == Filter.coerce(as_dict) == expected
    assert Filter.from_cli(text) == Filter.from_cli(as_list) == expected
    assert Filter.coerce(as_list[:2] + ["year<2010; tags=news|blog"] + as_list[4:]) == expected
    assert Filter.coerce("") is None and Filter.coerce([]) is None and Filter.coerce(";") is None


def test_repeated_keys_across_expressions():
    with pytest.raises(ValueError, match="already has a condition"):
        Filter.coerce("source=doc/*; source=src/*")
    with pytest.raises(ValueError, match="already has a condition"):
        Filter.coerce("year>=2000; year=2004")


# -- unknown fields ----------------------------------------------------------------------

def test_docstore_metadata_keys_and_check_filter(tmp_path):
    store = DocStore(tmp_path / "docs.sqlite")
    assert store.metadata_keys() == frozenset()
    anything = Filter.coerce("nokey=1")
    assert store.check_filter(anything) is anything  # an empty store: nothing to check
    assert store.check_filter(None) is None
    store.put_many([Document(doc_id, metadata=meta) for doc_id, meta in DOCS.items()])
    assert store.metadata_keys() == {"source", "year", "kind", "topic"}
    with pytest.raises(ValueError) as caught:
        store.check_filter(Filter.coerce("year>=2024; nokey=1"))
    assert str(caught.value) == ("no document has metadata field 'nokey'; fields: kind, "
                                 "source, topic, year")
    ok = Filter.coerce("kind=text; source=doc/*")
    assert store.check_filter(ok) is ok
    # the cache follows writes: a new key, then its last document gone
    store.put_many([Document("f", metadata={"lang": "en"})])
    assert "lang" in store.metadata_keys()
    store.check_filter(Filter.coerce("lang=en"))
    store.delete_many(["f"])
    with pytest.raises(ValueError, match="'lang'"):
        store.check_filter(Filter.coerce("lang=en"))
    # documents without any metadata: every key is unknown
    bare = DocStore(tmp_path / "bare.sqlite")
    bare.put_many([Document("x")])
    with pytest.raises(ValueError, match="no document has metadata"):
        bare.check_filter(Filter.coerce("kind=text"))
    store.close()
    bare.close()


def test_metadata_keys_see_another_connections_writes(tmp_path):
    writer = DocStore(tmp_path / "docs.sqlite")
    writer.put_many([Document("a", metadata={"kind": "text"})])
    reader = DocStore(tmp_path / "docs.sqlite", readonly=True)
    assert reader.metadata_keys() == {"kind"}
    writer.put_many([Document("b", metadata={"lang": "en"})])
    assert reader.metadata_keys() == {"kind", "lang"}
    reader.close()
    writer.close()


@pytest.fixture(scope="module")
def small(lite):
    from nyx import Item
    from nyx.retriever import Retriever

    r = Retriever(encoder=lite)
    r.add([Item([f"notes about certificates and shells, file {doc_id}"], meta, doc_id)
           for doc_id, meta in DOCS.items()])
    yield r
    r.close()


@pytest.mark.parametrize("mode", ["lexical", "dense"])
def test_retriever_honours_globs_and_prefixes(small, mode):
    def ids(flt):
        return {h.id for h in small.search("certificates notes", k=10, mode=mode, filter=flt)}

    assert ids("source=doc/ca-certificates/*") == {"a", "b"}
    assert ids({"source": {"prefix": "doc/"}}) == {"a", "b", "c"}
    assert ids(["source=*README", "year>=2025"]) == {"c"}
    assert ids('source="doc/*"') == set()


def test_retriever_refuses_unknown_fields_and_malformed_expressions(small):
    with pytest.raises(ValueError, match="no document has metadata field 'nokey'; "
                                         "fields: kind, source, topic, year"):
        small.search("certificates", k=3, filter="nokey=1")
    with pytest.raises(ValueError, match="'nokey'"):
        small.search("certificates", k=3, filter={"nokey": {"any": [1, 2]}})
    with pytest.raises(ValueError, match="write year>=2024"):
        small.search("certificates", k=3, filter="year=>2024")


# -- Qdrant --------------------------------------------------------------------------------

def test_qdrant_matches_prefixes_and_refuses_other_globs():
    pytest.importorskip("qdrant_client")
    from qdrant_client import models

    from nyx.indexes import QdrantIndex
    from nyx.indexes.qdrant_points import to_qdrant_filter

    from .conftest import clustered_vectors

    def condition(spec):
        return to_qdrant_filter(Filter.coerce(spec)).must[0].match

    assert condition("source=doc/*") == models.MatchPrefix(prefix="doc/")
    assert condition({"source": {"prefix": "doc/*"}}) == models.MatchPrefix(prefix="doc/*")
    assert condition({"source": {"glob": "doc"}}) == models.MatchValue(value="doc")
    with pytest.raises(ValueError, match="Qdrant backend cannot match the glob '\\*README'"):
        to_qdrant_filter(Filter.coerce("source=*README"))

    index = QdrantIndex(8)
    ids = sorted(DOCS)
    vectors = clustered_vectors(len(ids), 8, seed=5)
    index.upsert(ids, vectors, [DOCS[i] for i in ids])
    for spec in ("source=doc/ca-certificates/*", {"source": {"prefix": "doc/"}},
                 "source=*", "topic=doc/*"):
        flt = Filter.coerce(spec)
        hits = index.search(vectors[:1], 10, flt)[0]
        assert {h.id for h in hits} == _matching(flt), spec
    with pytest.raises(ValueError, match="cannot match the glob"):
        index.search(vectors[:1], 10, "source=doc/*/README")


def test_faiss_honours_globs():
    from nyx.indexes import FaissIndex

    from .conftest import clustered_vectors

    index = FaissIndex(8)
    ids = sorted(DOCS)
    vectors = clustered_vectors(len(ids), 8, seed=5)
    index.upsert(ids, vectors, [DOCS[i] for i in ids])
    for spec in ("source=doc/*/README", {"source": {"prefix": "doc/"}}, "topic=doc/?"):
        flt = Filter.coerce(spec)
        assert {h.id for h in index.search(vectors[:1], 10, flt)[0]} == _matching(flt)
    assert np.isfinite(index.search(vectors[:1], 1)[0][0].score)


# -- every interface takes the grammar -----------------------------------------------------

def test_http_query_filter_takes_json_or_expressions():
    from nyx.ensemble.tool_schema import ToolCallError
    from nyx.serve.routes import _filter
    from nyx.serve.schemas import SearchParams

    assert _filter(None) is None and _filter([]) is None and _filter(["", " "]) is None
    assert _filter(['{"topic": "shop"}']) == {"topic": "shop"}
    assert _filter("topic=shop") == {"topic": "shop"}
    expected = {"year": {"gte": 2024}, "source": {"glob": "doc/*"}}
    assert _filter(["year>=2024", "source=doc/*"]) == expected  # repeated filter= params
    assert _filter(["year>=2024; source=doc/*"]) == expected
    for bad, message in [(["year=>2024"], "write year>=2024"), (["{oops"], "not valid JSON"),
                         (['{"a": 1}', "b=2"], "not both"), (["[[["], "no operator")]:
        with pytest.raises(ToolCallError, match=message):
            _filter(bad)
    params = SearchParams.model_validate({"q": "x", "filter": ["year>=2024", "kind=text"]})
    assert params.filter == ["year>=2024", "kind=text"]


def test_tool_schema_accepts_a_filter_string():
    from nyx.ensemble.tool_schema import ToolCallError, check_arguments, tool_definitions

    search = next(d for d in tool_definitions() if d["function"]["name"] == "search")
    spec = search["function"]["parameters"]["properties"]["filter"]
    assert spec["type"] == ["object", "string", "null"]
    assert "source=doc/*" in spec["description"] and '"glob"' in spec["description"]
    for value in ("year>=2024; source=doc/*", {"year": {"gte": 2024}}, None):
        assert check_arguments({"query": "x", "filter": value}, search)
    with pytest.raises(ToolCallError, match="'filter' must be object or string or null"):
        check_arguments({"query": "x", "filter": 3}, search)
    with pytest.raises(ToolCallError, match="more than 2,000"):
        check_arguments({"query": "x", "filter": "a=" + "x" * 2000}, search)


def test_cli_malformed_filter_is_an_error_exit(tmp_path, capsys):
    """`nyx-index search --filter "year=>2024"` used to print no results and exit 0."""
    from nyx.cli.index import build_parser, main

    assert main(["search", str(tmp_path), "query", "--filter", "year=>2024"]) == 2
    assert "unknown operator '=>'; write year>=2024" in capsys.readouterr().err
    args = build_parser().parse_args(["search", "idx", "q", "--filter", "year>=2024",
                                      "--filter", "kind=text; source=doc/*"])
    assert Filter.from_cli(args.filter) == Filter.coerce(
        {"year": {"gte": 2024}, "kind": "text", "source": {"glob": "doc/*"}})
