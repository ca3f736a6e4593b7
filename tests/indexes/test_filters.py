from __future__ import annotations

import pytest

from nyx.indexes.filters import AnyOf, Equals, Filter, Range, parse_cli_condition

DOC = {"lang": "en", "tags": ["news", "wiki"], "year": 2004, "rating": 3.5, "public": True}


def test_equality_matches_scalar_and_list_element():
    assert Filter.parse({"lang": "en"}).matches(DOC)
    assert not Filter.parse({"lang": "de"}).matches(DOC)
    assert Filter.parse({"tags": "wiki"}).matches(DOC)
    assert not Filter.parse({"tags": "blog"}).matches(DOC)


def test_any_of_with_list_values():
    assert Filter.parse({"tags": {"any": ["blog", "news"]}}).matches(DOC)
    assert not Filter.parse({"tags": {"any": ["blog", "paper"]}}).matches(DOC)
    assert Filter.parse({"lang": {"any": ["fr", "en"]}}).matches(DOC)


def test_range_bounds_are_inclusive_or_exclusive():
    assert Filter.parse({"year": {"gte": 2004, "lt": 2005}}).matches(DOC)
    assert not Filter.parse({"year": {"gt": 2004}}).matches(DOC)
    assert Filter.parse({"year": {"lte": 2004}}).matches(DOC)
    assert not Filter.parse({"year": {"lt": 2004}}).matches(DOC)
    assert Filter.parse({"rating": {"gt": 3.4, "lte": 3.5}}).matches(DOC)


def test_keys_are_anded_and_missing_keys_never_match():
    assert Filter.parse({"lang": "en", "year": {"gte": 2000}}).matches(DOC)
    assert not Filter.parse({"lang": "en", "year": {"gte": 2010}}).matches(DOC)
    assert not Filter.parse({"author": "x"}).matches(DOC)
    assert Filter.parse({}).matches(DOC)


def test_types_compare_strictly_like_qdrant():
    assert Filter.parse({"public": True}).matches(DOC)
    assert not Filter.parse({"public": 1}).matches(DOC)
    assert not Filter.parse({"flag": True}).matches({"flag": 1})
    assert not Filter.parse({"year": "2004"}).matches(DOC)
    assert not Filter.parse({"lang": {"gte": 0}}).matches(DOC)  # strings are not in ranges
    assert not Filter.parse({"n": {"gte": 0}}).matches({"n": True})  # nor are bools


def test_float_equality_becomes_closed_range():
    flt = Filter.parse({"rating": 3.5})
    assert flt.conditions == (Range("rating", gte=3.5, lte=3.5),)
    assert flt.matches(DOC)


def test_parse_builds_conditions_and_round_trips():
    spec = {"lang": "en", "tags": {"any": ["a", "b"]}, "year": {"gte": 2000, "lt": 2020}}
    flt = Filter.parse(spec)
    assert flt.conditions == (
        Equals("lang", "en"),
        AnyOf("tags", ("a", "b")),
        Range("year", gte=2000, lt=2020),
    )
    assert flt.to_dict() == spec
    assert Filter.parse(flt.to_dict()) == flt
    assert Filter.coerce(spec) == flt
    assert Filter.coerce(flt) is flt
    assert Filter.coerce({}) is None and Filter.coerce(None) is None


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ({"year": {"between": [1, 2]}}, ["'year'", "'between'"]),
        ({"year": {"gte": "2000"}}, ["'year'", "'2000'"]),
        ({"tags": {"any": "news"}}, ["'tags'", "'news'"]),
        ({"tags": {"any": []}}, ["'tags'", "empty"]),
        ({"tags": {"any": ["a", 1]}}, ["'tags'", "mix"]),
        ({"tags": ["a", "b"]}, ["'tags'", "any"]),
        ({"lang": None}, ["'lang'", "None"]),
        ({"lang": {"any": ["en"], "gte": 1}}, ["'lang'"]),
        ({"year": {}}, ["'year'", "empty"]),
        ({"": "x"}, ["''"]),
    ],
)
def test_bad_filters_name_key_and_value(spec, fragments):
    with pytest.raises(ValueError) as info:
        Filter.parse(spec)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_parse_rejects_non_dict():
    with pytest.raises(ValueError, match="must be a dict"):
        Filter.parse(["lang=en"])  # type: ignore[arg-type]


def test_cli_conditions():
    assert parse_cli_condition("lang=en") == ("lang", "en")
    assert parse_cli_condition("year=2004") == ("year", 2004)
    assert parse_cli_condition("rating=3.5") == ("rating", 3.5)
    assert parse_cli_condition('code="007"') == ("code", "007")
    assert parse_cli_condition("year>=2000") == ("year", {"gte": 2000})
    assert parse_cli_condition("year < 2020") == ("year", {"lt": 2020})
    assert parse_cli_condition("tags=news|wiki") == ("tags", {"any": ["news", "wiki"]})
    assert parse_cli_condition("n=1|2") == ("n", {"any": [1, 2]})


def test_from_cli_merges_bounds_on_one_key():
    flt = Filter.from_cli(["lang=en", "year>=2000", "year<2010", "tags=news|blog"])
    assert flt.to_dict() == {
        "lang": "en",
        "year": {"gte": 2000, "lt": 2010},
        "tags": {"any": ["news", "blog"]},
    }
    assert flt.matches(DOC)


@pytest.mark.parametrize(
    ("expressions", "fragment"),
    [
        (["lang"], "key=value"),
        (["year>=soon"], "'soon' is not a number"),
        (["lang="], "no value"),
        (["lang=en", "lang=de"], "already has a condition"),
        (["year>=1", "year>=2"], "repeats a bound"),
    ],
)
def test_bad_cli_filters(expressions, fragment):
    with pytest.raises(ValueError, match=fragment):
        Filter.from_cli(expressions)
