"""Tracking tokens verify only in the one encoding they were minted in (issue 11, item 3)."""

from __future__ import annotations

from uuid import UUID

import pytest

from security import tokens

SECRET = b"k"
MESSAGE = UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize("kind", ["o", "c", "u"])
def test_the_minted_token_verifies(kind: str) -> None:
    found = tokens.verify(SECRET, kind, tokens.mint(SECRET, kind, MESSAGE, "https://example.org/x"))
    assert found == tokens.Token(kind, MESSAGE, "https://example.org/x")


@pytest.mark.parametrize("alter", [
    lambda t: t[:4] + "!!!!" + t[4:],  # characters outside the alphabet, once skipped
    lambda t: t + "==",  # padding appended
    lambda t: t + "~~~~",
    lambda t: t + "==%22%3E%3Csvg",
    lambda t: t.replace(".", "=.", 1),  # padding inside the body part
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the MAC
    lambda t: t + "\n",
    lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "+",
], ids=["inserted", "padded", "tilde", "xss", "inner-padding", "mac", "newline", "std-alphabet"])
@pytest.mark.parametrize("kind", ["o", "c", "u"])
def test_an_altered_token_does_not_verify(kind: str, alter: object) -> None:
    token = tokens.mint(SECRET, kind, MESSAGE, "https://example.org/x")
    altered = alter(token)  # type: ignore[operator]
    assert altered != token
    assert tokens.verify(SECRET, kind, altered) is None
