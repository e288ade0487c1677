"""Node-name encoding shared by both backends."""

from __future__ import annotations

import pytest

from asdfeat.errors import StoreError
from asdfeat.store._names import MAX_ENCODED_LENGTH, decode_name, encode_name


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("beats-iter3+", "beats-iter3+"),
        ("hear:my_pkg.module", "hear%3Amy_pkg.module"),
        ("user/model v2", "user%2Fmodel%20v2"),
        ("100%", "100%25"),
        ("__init__", "%5F_init__"),
        ("..", "%2E%2E"),
        ("a..b", "a..b"),
        ("é", "%C3%A9"),
    ],
)
def test_encode_known_names(name, encoded):
    assert encode_name(name) == encoded
    assert decode_name(encoded) == name


def test_encoding_is_injective():
    names = ["A", "%41", "a", "_a", "%5Fa", ".", "..", "%2E", "a b", "a%20b", "a/b", "a%2Fb"]

    encoded = [encode_name(name) for name in names]

    assert len(set(encoded)) == len(names)
    assert [decode_name(e) for e in encoded] == names


@pytest.mark.parametrize("bad", ["", None, 3])
def test_invalid_names_rejected(bad):
    with pytest.raises(StoreError, match="expected a non-empty string"):
        encode_name(bad, kind="model")


def test_long_name_rejected():
    with pytest.raises(StoreError, match=f"more than the limit of {MAX_ENCODED_LENGTH}"):
        encode_name("ü" * 50)


@pytest.mark.parametrize("foreign", ["a b", "%41", "%e9", "%ZZ", "%C3", "_x", ".", ""])
def test_foreign_node_names_rejected(foreign):
    with pytest.raises(StoreError, match="node name"):
        decode_name(foreign)
