from __future__ import annotations

from uuid import uuid4

from security import tokens


def test_minted_token_verifies_with_its_content() -> None:
    message_id = uuid4()
    token = tokens.mint(b"k", "c", message_id, "https://x.test/ü?a=1")
    assert tokens.verify(b"k", "c", token) == tokens.Token("c", message_id, "https://x.test/ü?a=1")


def test_a_token_of_one_kind_is_refused_as_another() -> None:
    token = tokens.mint(b"k", "o", uuid4())
    assert tokens.verify(b"k", "c", token) is None


def test_wrong_secret_and_truncation_are_refused() -> None:
    token = tokens.mint(b"k", "o", uuid4())
    assert tokens.verify(b"other", "o", token) is None
    assert tokens.verify(b"k", "o", token[:10]) is None
