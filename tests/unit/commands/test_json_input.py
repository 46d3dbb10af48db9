"""``web.json_input``: nesting measured without recursion, lone surrogates found exactly."""

from __future__ import annotations

import json

import pytest

from web.json_input import MAX_DEPTH
from web.json_input import JsonRefused
from web.json_input import loads


@pytest.mark.parametrize(("text", "value"), [
    ("[" * MAX_DEPTH + "]" * MAX_DEPTH, json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)),
    (json.dumps({"a": "[" * 10_000 + "{" * 10_000}), {"a": "[" * 10_000 + "{" * 10_000}),  # in a string
    ('["\\"' + "[" * 100 + '"]', ['"' + "[" * 100]),  # after an escaped quote: still in the string
    ('["\\\\", ' + "[]," * 100 + "1]", ["\\", *[[]] * 100, 1]),  # an escaped backslash ends nothing
    ("[" + "[]," * 100_000 + "[]]", [[]] * 100_001),  # many brackets, shallow
    ('"\\ud83d\\ude00"', "😀"), ('"\\\\ud800"', "\\ud800"),  # a pair; an escaped backslash
    (b'{"a": "\xc3\xa9"}', {"a": "é"}), ('{"a": "\\u00e9"}'.encode("utf-16"), {"a": "é"}),
], ids=["64 levels", "brackets in a string", "escaped quote", "escaped backslash", "wide", "pair",
        "not an escape", "utf-8", "utf-16"])
def test_what_is_accepted_parses_as_json_loads_would(text: str | bytes, value: object) -> None:
    assert loads(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 65 + "]" * 65, "the JSON is nested deeper than 64 levels"),
    ("[" * 100_000, "the JSON is nested deeper than 64 levels"),  # never closed
    ('{"a": ' * 65 + "1" + "}" * 65, "the JSON is nested deeper than 64 levels"),
    ('["x", "' + '\\"' * 1000 + '", ' + "[" * 100, "the JSON is nested deeper than 64 levels"),
    ('["a", "\\ud800"]', "the JSON has a lone surrogate (\\ud800) at character 7: it is not Unicode text"),
    ('"\\udc00\\ud800"', "the JSON has a lone surrogate (\\udc00) at character 1: it is not Unicode text"),
    ('"\\ud800\\u0041"', "the JSON has a lone surrogate (\\ud800) at character 1: it is not Unicode text"),
    ('{"\\\\\\uDFFF": 1}', "the JSON has a lone surrogate (\\uDFFF) at character 4: it is not Unicode text"),
    (b'"\xed\xb0\x80"', "the JSON has a lone surrogate (U+DC00) at character 1: it is not Unicode text"),
], ids=["65 levels", "unclosed", "objects", "after escaped quotes", "lone high", "low first", "high alone",
        "after escaped backslash", "raw bytes"])
def test_deep_nesting_and_lone_surrogates_are_refused(text: str | bytes, message: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads(text)

    assert str(refused.value) == message


@pytest.mark.parametrize("text", ['{"a": ' + "[" * 10 + "}", '["x", "' + '\\"' * 1000 + "[" * 100],
                         ids=["mismatched", "brackets in an unterminated string"])
def test_malformed_json_stays_a_value_error_of_its_own(text: str) -> None:
    with pytest.raises(ValueError) as error:
        loads(text)

    assert not isinstance(error.value, JsonRefused)
