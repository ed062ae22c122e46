# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of albatross labels, paths and names (protocol specification §4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.errors import ValidationError
from ansible_collections.unikernels.albatross.plugins.module_utils._albatross.names import (
    LABEL_ERROR,
    is_label,
    name_to_string,
    normalize_name,
    parse_name,
    parse_path,
    path_to_string,
    validate_label,
)


@pytest.mark.parametrize("label,expected", [
    ("foo", "foo"), ("Foo.BAR-1", "foo.bar-1"), ("a", "a"), ("x" * 63, "x" * 63), (".x", ".x"), ("9-", "9-"),
])
def test_valid_labels(label, expected):
    assert validate_label(label) == expected
    assert is_label(label)


@pytest.mark.parametrize("label", ["", "x" * 64, "-foo", "a:b", "a b", "a_b", "é", "foo\n", None, 5])
def test_invalid_labels(label):
    with pytest.raises(ValidationError) as info:
        validate_label(label)
    assert str(info.value) == "invalid label (only [a-zA-Z0-9-.] allowed, 1 to 63 chars)" == LABEL_ERROR


@pytest.mark.parametrize("text,path,label", [
    (":", (), None),
    (":foo", (), "foo"),
    ("foo", (), "foo"),
    ("a:foo", ("a",), "foo"),
    ("a:b:foo", ("a", "b"), "foo"),
    ("a:b:", ("a", "b"), None),
    (":a:", ("a",), None),
    ("a:", ("a",), None),
    ("A:FOO", ("a",), "foo"),
    (":a:b:c", ("a", "b"), "c"),
])
def test_parse_name(text, path, label):
    assert parse_name(text) == (path, label)


@pytest.mark.parametrize("path,label,text", [
    ((), None, ":"), ((), "foo", ":foo"), (("a",), "foo", "a:foo"), (("a", "b"), "foo", "a:b:foo"), (("a", "b"), None, "a:b:"),
])
def test_name_to_string(path, label, text):
    assert name_to_string(path, label) == text
    assert parse_name(text) == (path, label)


@pytest.mark.parametrize("text,message", [
    ("", "empty name"),
    ("a::b", "invalid name"),
    ("a:-b", "invalid name"),
    ("::", "invalid path: " + LABEL_ERROR),
    ("a::", "invalid path: " + LABEL_ERROR),
    ("a b:", "invalid path: " + LABEL_ERROR),
    (None, "invalid name"),
])
def test_parse_name_errors(text, message):
    with pytest.raises(ValidationError) as info:
        parse_name(text)
    assert str(info.value) == message


@pytest.mark.parametrize("text,path", [
    ("", ()), (":", ()), ("a", ("a",)), ("a:b", ("a", "b")), ("a:b:", ("a", "b")), (":a:b", ("a", "b")), ("A", ("a",)),
])
def test_parse_path(text, path):
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["::", "a::b", "-a", "a:b c", None])
def test_parse_path_errors(text):
    with pytest.raises(ValidationError, match="invalid path"):
        parse_path(text)


def test_path_to_string():
    assert path_to_string(()) == ""
    assert path_to_string(("a", "b")) == "a:b"
    assert parse_path(path_to_string(("a", "b"))) == ("a", "b")


def test_normalize_name():
    assert normalize_name("Foo") == ":foo"
    assert normalize_name("foo.bar") == ":foo.bar"
    assert normalize_name("a:B:") == "a:b:"


_labels = st.from_regex(r"\A[A-Za-z0-9.][A-Za-z0-9.-]{0,62}\Z")


@settings(max_examples=200, deadline=None)
@given(st.lists(_labels, max_size=4), st.none() | _labels)
def test_name_round_trip(path, label):
    path = tuple(p.lower() for p in path)
    label = label.lower() if label else None
    text = name_to_string(path, label)
    assert parse_name(text) == (path, label)
    assert normalize_name(text) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_parse_name_total(text):
    try:
        path, label = parse_name(text)
    except ValidationError:
        return
    assert all(is_label(p) for p in path)
    assert label is None or is_label(label)
