"""Pieces every scheme shares: the error type, the cached key/compare pair, zero-padded keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

# Enough for every version in a large image plus an advisory feed's ranges for it.
CACHE_SIZE = 1 << 16


class VersionError(ValueError):
    """The string is not a valid version in the scheme that was asked to order it."""


class KeyScheme:
    """A scheme whose order is a total order, so a tuple key decides every comparison.

    Keys are cached because matching asks about the same installed and fixed versions over and
    over; invalid versions are not cached (lru_cache does not store exceptions), which is fine
    because they are rare and cheap to reject.
    """

    def __init__(self, name: str, key: Callable[[str], Any]) -> None:
        self.name = name
        self._key = lru_cache(maxsize=CACHE_SIZE)(key)

    def key(self, version: str) -> Any:
        if not isinstance(version, str):
            raise VersionError(f"{self.name}: version must be a string, not {type(version).__name__}")
        return self._key(version)

    def compare(self, a: str, b: str) -> int:
        ka = self.key(a)
        kb = self.key(b)
        return int((ka > kb) - (ka < kb))

    def __repr__(self) -> str:
        return f"<version scheme {self.name}>"


def zero_padded(seq: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """A tuple key for integer sequences that compare as if padded with zeros forever.

    dpkg (and others) compare "1.0" and "1.0.0" as equal and "1~" below "1": a shorter sequence is
    extended with zeros, and elements may be negative. Plain tuple comparison would instead rank
    every proper prefix first. Each zero is tagged with the sign of the next non-zero element
    after it, and the key ends with an untagged zero standing for the infinite padding; then
    tuple order equals padded order (two zeros tagged differently differ exactly where the
    padded sequences first differ, and in the same direction).
    """
    items = list(seq)
    while items and items[-1] == 0:
        items.pop()
    out: list[tuple[int, int]] = []
    sign = 0
    for x in reversed(items):
        if x == 0:
            out.append((0, sign))
        else:
            sign = 1 if x > 0 else -1
            out.append((x, 0))
    out.reverse()
    out.append((0, 0))
    return tuple(out)
