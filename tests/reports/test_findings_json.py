"""The findings JSON: its documented shape, suppression bookkeeping and stability."""

from __future__ import annotations

import json
import re
from typing import Any

from customhouse.report.findings import SEVERITIES
from customhouse.report.findings_json import render_json
from tests.conftest import ROOT
from tests.reports import samples


def doc(**kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(render_json(samples.report(**kw)))
    return d


def _paths(x: Any, prefix: str = "") -> set[str]:
    """`findings[].vulnerability.cvss[].score`-style paths of every leaf and list (objects are
    documented through their fields)."""
    out = {prefix} if prefix and not isinstance(x, dict) else set()
    if isinstance(x, dict):
        for k, v in x.items():
            out |= _paths(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(x, list):
        for v in x:
            out |= _paths(v, prefix + "[]")
    return out


def test_every_field_is_documented() -> None:
    """docs/report-formats.md names every path the JSON has (maps keyed by data excepted)."""
    text = (ROOT / "docs" / "report-formats.md").read_text()
    documented = set(re.findall(r"`([a-z_\[\].]+)`", text))
    dynamic = ("summary.by_severity.", "summary.suppressed_by_severity.", "summary.suppressed_by_source.", "db.")
    paths = _paths(doc(generated_at="2024-01-01T00:00:00Z"))
    paths = {p for p in paths if not p.startswith(dynamic) and not p.startswith("inventory.layers[].")}
    paths = {p.removesuffix("[]") for p in paths}
    missing = sorted(p for p in paths if p not in documented and p.split(".")[0] not in ("target", "os"))
    assert missing == []


def test_shape_and_summary() -> None:
    d = doc()
    assert d["schema_version"] == "1.0"
    assert list(d) == [
        "schema_version",
        "tool",
        "target",
        "os",
        "db",
        "inventory",
        "summary",
        "findings",
        "warnings",
    ]
    assert d["summary"]["total"] == sum(d["summary"]["by_severity"].values()) == 7
    assert list(d["summary"]["by_severity"]) == list(SEVERITIES)
    assert d["summary"]["suppressed"] == 1
    assert d["inventory"]["package_count"] == len(samples.inventory().packages)
    assert d["db"]["built_at"] == "2024-06-01T00:00:00Z"


def test_suppressed_findings_stay_with_their_suppression() -> None:
    by_id = {f["id"]: f for f in doc()["findings"]}
    sup = by_id["CVE-2024-5535"]["suppressed"]
    assert sup == {
        "source": "ignore-file:.customhouseignore.yaml",
        "reason": "NPN/ALPN callbacks not used by our services",
        "status": "ignored",
        "justification": "",
        "expires": "2099-01-01",
    }
    assert by_id["CVE-2021-44228"]["suppressed"] is None


def test_findings_in_risk_order_with_every_field() -> None:
    findings = doc()["findings"]
    assert [f["id"] for f in findings[:3]] == ["CVE-2021-44228", "CVE-2021-45046", "CVE-2023-44487"]
    log4shell = findings[0]
    assert log4shell["fingerprint"] == samples.LOG4SHELL.fingerprint
    v = log4shell["vulnerability"]
    assert v["aliases"] == ["GHSA-jfh8-c2jp-5v3q"]
    assert v["cvss"][0] == {
        "version": "3.1",
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        "score": 10.0,
        "source": "nvd",
    }
    assert v["kev"] is True and v["epss"] == 0.97565
    iconv = next(f for f in findings if f["id"] == "CVE-2024-2961")
    assert iconv["frameworks"] == [{"framework": "CWE", "control": "CWE-787"}]
    secret = next(f for f in findings if f["kind"] == "secret")
    assert secret["vulnerability"] is None and secret["location"]["line"] == 3


def test_one_finding_per_line() -> None:
    text = render_json(samples.report())
    lines = [ln for ln in text.splitlines() if ln.lstrip().startswith('{"id": ')]
    assert len(lines) == len(samples.ALL)
    assert text.endswith("}\n")


def test_encoded_lines_say_what_the_plain_dicts_say() -> None:
    """Lines are encoded by a walk written for the Finding model; every kind of finding (CVSS
    records, secret and misconfiguration details, suppressions) gives the generic dict's text."""
    from dataclasses import replace

    from customhouse.report.findings import Finding, Location, MisconfigDetail, SecretDetail, Suppression
    from customhouse.report.findings_json import finding_dict, finding_line
    from customhouse.report.jsonlayout import encode

    misconfig = Finding(
        id="CH-K8S-PSS-003",
        kind="misconfiguration",
        severity="high",
        title="Privileged container",
        location=Location(path="deploy.yaml", line=12, column=9, json_path="$.spec.containers[0]"),
        references=("https://kubernetes.io/docs/concepts/security/pod-security-standards/",),
        frameworks=(("CIS Kubernetes", "5.2.1"), ("NIST SP 800-190", "4.4.3")),
        misconfiguration=MisconfigDetail(
            file_type="kubernetes", snippet="privileged: true", extra=(("pss_check", "privileged"), ("container", "c"))
        ),
    ).with_fingerprint()
    secret = replace(
        samples.AWS_KEY, secret=SecretDetail(category="cloud", provider="aws", secret="AKIA…", validated=None)
    )
    why = Suppression(source="inline", reason="accepted", status="ignored")
    every = (*samples.ALL, misconfig, secret)
    for f in (*every, *(replace(f, suppressed=why) for f in every)):
        assert finding_line(replace(f)) == encode(finding_dict(f))
    assert any(f.vulnerability and f.vulnerability.cvss for f in samples.ALL)


def test_encoded_line_follows_the_finding() -> None:
    """The JSON line is remembered on the (immutable) finding and travels with it from scan
    workers; a changed finding (here suppressed, as the ignore file does) is a new object whose
    line is encoded again, and the report is the one written from plain dicts."""
    import pickle
    from dataclasses import replace

    from customhouse.report.findings import Suppression
    from customhouse.report.findings_json import finding_dict, finding_line, report_dict
    from customhouse.report.jsonlayout import dump_json

    f = replace(samples.AWS_KEY)
    line = finding_line(f)
    assert json.loads(line) == finding_dict(f)
    assert pickle.loads(pickle.dumps(f)).__dict__["_json_line"] == line  # sent back with it
    assert f == samples.AWS_KEY and repr(f) == repr(samples.AWS_KEY)  # not a field
    why = Suppression(source="ignore-file:.customhouseignore.yaml", reason="rotated", status="ignored")
    g = replace(f, suppressed=why)
    assert "_json_line" not in g.__dict__
    assert json.loads(finding_line(g))["suppressed"]["reason"] == "rotated"
    report = samples.report((*samples.ALL, f, g))
    assert render_json(report) == dump_json(report_dict(report), inline_depth=2)


def test_misconfiguration_lines_written_field_by_field_match_the_generic_encoding() -> None:
    """Misconfiguration findings are written field by field with recurring values encoded once
    (`_misconfig_line`); odd text (quotes, control characters, non-ASCII, lone surrogates),
    every optional part, repeated values and values of subclassed types give the generic text."""
    import random
    from dataclasses import replace

    from customhouse.report.findings import Finding, Location, MisconfigDetail, Suppression
    from customhouse.report.findings_json import _misconfig_line, finding_dict, finding_line
    from customhouse.report.jsonlayout import encode

    class Text(str):
        pass

    rnd = random.Random(7)
    odd = ["", "plain", 'quote " and \\ back', "tab\tnew\nline\x00nul\x1f", "ünï 𝄞 \u2028", "lone \udc80", "</script>"]

    def text() -> str:
        return "".join(rnd.choice(odd) for _ in range(rnd.randint(0, 3)))

    shortcut = 0
    for i in range(400):
        f = Finding(
            id=rnd.choice(["CH-DF-001", "CH-DC-019", text()]),
            kind="misconfiguration",
            severity=rnd.choice(["low", "high"]),
            title=text(),
            message=text(),
            target=rnd.choice(["/tree", text()]),
            location=Location(
                path=text(),
                line=rnd.randint(0, 99),
                column=rnd.randint(0, 9),
                end_line=rnd.randint(0, 99),
                layer_digest=rnd.choice(["", "sha256:ab"]),
                layer_index=rnd.choice([-1, 0, 3]),
                created_by=text(),
                resource_kind=rnd.choice(["", "Pod"]),
                resource_namespace=text(),
                resource_name=text(),
                json_path=text(),
            ),
            fix=text(),
            references=tuple(text() for _ in range(rnd.randint(0, 3))),
            frameworks=tuple((text(), text()) for _ in range(rnd.randint(0, 3))),
            suppressed=rnd.choice([None, Suppression(source="inline", reason=text(), status="ignored")]),
            fingerprint=text(),
            misconfiguration=MisconfigDetail(
                file_type=rnd.choice(["dockerfile", "kubernetes"]),
                snippet=text(),
                replacement=text(),
                check_source=rnd.choice(["builtin", "rego:" + text()]),
                description=text(),
                extra=rnd.choice([(), (("pss_check", text()),), (("n", 3), ("ok", True), ("l", [1, "x"]))]),  # type: ignore[list-item]
            ),
        )
        if i % 50 == 0:  # a subclass of str where a str is expected: the generic walk writes it
            f = replace(f, title=Text(f.title))
        shortcut += _misconfig_line(f) is not None
        assert finding_line(replace(f)) == encode(finding_dict(f)), i
        assert finding_line(replace(f)) == encode(finding_dict(f)), i  # again, from the caches
    assert shortcut == 400 - 8


def test_encoded_items_are_written_as_they_are_at_any_depth() -> None:
    """A list of already-encoded JSON texts is written item by item: one per line in the pretty
    top of a document, on one line where the layout turns inline; empty, it is `[]`."""
    from customhouse.report.jsonlayout import EncodedItems, dump_json

    items = ['{"a": 1}', '"x \\u00e9"', "null"]
    want = [{"a": 1}, "x é", None]
    doc = {"top": EncodedItems(items), "empty": EncodedItems(), "deep": {"list": EncodedItems(items)}}
    for depth in (2, 3):  # where the layout itself reaches each list
        assert json.loads(dump_json(doc, inline_depth=depth)) == {"top": want, "empty": [], "deep": {"list": want}}
    flat = {"top": EncodedItems(items), "empty": EncodedItems()}
    assert json.loads(dump_json(flat, inline_depth=1)) == {"top": want, "empty": []}
    assert '\n    {"a": 1},\n    "x \\u00e9",\n    null\n  ]' in dump_json(doc, inline_depth=2)
