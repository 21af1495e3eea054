"""The license-expression rules both writers and the reader share (report/sbom_common.py)."""

from __future__ import annotations

from importlib import resources

import pytest

from customhouse.report.sbom_common import (
    LicenseEntry,
    classify_license,
    conjunction,
    is_exception_id,
    is_license_id,
    license_ref_for,
    parse_expression,
    split_conjunction,
    utc_seconds,
)


def test_exception_classification_matches_the_spdx_validators_view() -> None:
    """Our id list mixes licenses and exceptions; CycloneDX `license.id` and SPDX expressions
    need to know which is which. license-expression's index (used by spdx-tools) decides."""
    from license_expression import get_license_index

    text = resources.files("customhouse.data").joinpath("spdx-license-ids.txt").read_text()
    ours = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    truth: dict[str, bool] = {}
    for entry in get_license_index():
        for key in [entry.get("spdx_license_key"), *(entry.get("other_spdx_license_keys") or [])]:
            if key:
                truth[key] = bool(entry.get("is_exception"))
    assert len(ours) > 700
    wrong = [i for i in ours if i in truth and is_exception_id(i) != truth[i]]
    assert wrong == []
    assert sum(is_exception_id(i) for i in ours) > 50


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MIT", "MIT"),
        ("mit", "MIT"),
        ("MIT OR Apache-2.0", "MIT OR Apache-2.0"),
        ("gpl-2.0-only WITH classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
        ("(MIT OR Apache-2.0) AND OpenSSL", "(MIT OR Apache-2.0) AND OpenSSL"),
        ("( MIT )", "(MIT)"),
        ("GPL-2.0-only+", None),  # `+` is grammar, but validators reject it: kept as a name
        ("Apache-2.0+", None),
        ("LicenseRef-acme AND MIT", "LicenseRef-acme AND MIT"),
        ("MIT AND", None),
        ("MIT Apache-2.0", None),  # no operator: two words, not an expression
        ("MIT and Apache-2.0", None),  # operators are upper case
        ("(MIT", None),
        ("MIT WITH Apache-2.0", None),  # WITH takes an exception
        ("Classpath-exception-2.0", None),  # an exception alone is not a license
        ("Totally-Made-Up-1.0", None),
        ("", None),
    ],
)
def test_parse_expression(text: str, expected: str | None) -> None:
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    ("expr", "parts"),
    [
        ("MIT AND Apache-2.0", ["MIT", "Apache-2.0"]),
        ("MIT AND (Apache-2.0 OR BSD-2-Clause)", ["MIT", "Apache-2.0 OR BSD-2-Clause"]),
        ("MIT OR Apache-2.0 AND BSD-2-Clause", ["MIT OR Apache-2.0 AND BSD-2-Clause"]),  # AND binds tighter
        ("((MIT AND ISC))", ["MIT AND ISC"]),
        ("(MIT OR ISC) AND (Zlib OR MIT)", ["MIT OR ISC", "Zlib OR MIT"]),
        ("GPL-2.0-only WITH Classpath-exception-2.0", ["GPL-2.0-only WITH Classpath-exception-2.0"]),
    ],
)
def test_split_conjunction(expr: str, parts: list[str]) -> None:
    assert split_conjunction(expr) == parts


def test_conjunction_is_undone_by_split() -> None:
    cases = [
        ("MIT",),
        ("MIT", "ISC"),
        ("MPL-2.0 AND MIT",),
        ("MIT OR ISC",),
        ("MIT", "MIT OR ISC", "Zlib AND ISC"),
        ("A license name", "MIT OR Apache-2.0"),
    ]
    refs: dict[str, str] = {}

    def ref(name: str) -> str:
        refs[license_ref_for(name)] = name
        return license_ref_for(name)

    for licenses in cases:
        entries = [e for e in (classify_license(x) for x in licenses) if e is not None]
        back = [refs.get(part, part) for part in split_conjunction(conjunction(entries, ref))]
        assert back == list(licenses)


def test_classify_license() -> None:
    assert classify_license("apache-2.0") == LicenseEntry("id", "Apache-2.0")
    assert classify_license("MIT OR ISC") == LicenseEntry("expression", "MIT OR ISC")
    assert classify_license("LicenseRef-foo") == LicenseEntry("expression", "LicenseRef-foo")
    assert classify_license("GPL-2+") == LicenseEntry("name", "GPL-2+")
    assert classify_license("Classpath-exception-2.0") == LicenseEntry("name", "Classpath-exception-2.0")
    assert classify_license("   ") is None
    assert is_license_id("MIT") and not is_license_id("LLVM-exception") and is_exception_id("LLVM-exception")


def test_license_refs_are_valid_and_distinct() -> None:
    names = ["BSD", "Custom (c) ACME", "Custom [c] ACME", "Custom  (c)  ACME", "x" * 300, "Ünïcödé licence"]
    refs = [license_ref_for(n) for n in names]
    assert refs[0] == "LicenseRef-BSD"
    assert len(set(refs)) == len(refs)
    for r in refs:
        assert parse_expression(r) == r, r  # a valid idstring, usable in an expression
    assert license_ref_for("Custom (c) ACME") == refs[1]  # stable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-01-23T16:53:06.686519038Z", "2020-01-23T16:53:06Z"),
        ("2024-03-02T11:30:05+02:00", "2024-03-02T09:30:05Z"),
        ("2024-03-02T11:30:05-0130", "2024-03-02T13:00:05Z"),
        ("2024-03-02 11:30:05", "2024-03-02T11:30:05Z"),
        ("yesterday", ""),
        ("2024-13-45T99:00:00Z", ""),
        ("", ""),
    ],
)
def test_utc_seconds(value: str, expected: str) -> None:
    assert utc_seconds(value) == expected
