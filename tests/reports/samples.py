"""Findings shaped like a real scan of the every-type inventory (tests/sbom/inventories.py).

Built directly as `Finding` objects (the matcher is developed alongside); the advisories are
real ones for those package versions, with the ratings their sources publish, so the reports
are exercised on the spellings real data has: aliases across GHSA/GO/DSA, a distribution that
rates low what NVD rates critical, KEV entries, EPSS, no-fix and won't-fix states.
"""

from __future__ import annotations

from dataclasses import replace

from customhouse.model import Inventory, Package
from customhouse.report.findings import CVSS, Finding, Location, Suppression, VulnerabilityDetail
from customhouse.report.scan_report import ScanReport
from tests.sbom.inventories import every_type_inventory


def inventory() -> Inventory:
    return every_type_inventory()


def package(name: str) -> Package:
    return next(p for p in inventory().packages if p.name == name)


def vuln(
    pkg_name: str,
    vid: str,
    severity: str,
    title: str,
    *,
    aliases: tuple[str, ...] = (),
    fixed: str = "",
    fix_state: str = "",
    source: str = "nvd",
    cvss: tuple[CVSS, ...] = (),
    epss: float | None = None,
    kev: bool = False,
    risk: float = 0.0,
    references: tuple[str, ...] = (),
    target: str = "",
    frameworks: tuple[tuple[str, str], ...] = (),
) -> Finding:
    p = package(pkg_name)
    detail = VulnerabilityDetail(
        package_name=p.name,
        package_version=p.version,
        package_type=p.type,
        purl=p.purl,
        fix_state=fix_state or ("fixed" if fixed else "not_fixed"),  # type: ignore[arg-type]
        fixed_version=fixed,
        aliases=aliases,
        advisories=(vid,),
        severity_source=source,
        cvss=cvss,
        epss=epss,
        epss_percentile=None if epss is None else min(0.99999, 0.5 + epss / 2),
        kev=kev,
        risk=risk,
        source_package=p.source_name,
        ecosystem={"deb": "debian:12", "rpm": "redhat:9"}.get(p.type, p.type),
    )
    f = Finding(
        id=vid,
        kind="vulnerability",
        severity=severity,  # type: ignore[arg-type]
        title=title,
        message=f"{title} ({p.name} {p.version})",
        target=target,
        location=Location(path=p.path, layer_digest=p.layer_diff_id, layer_index=p.layer_index),
        fix=f"Upgrade {p.name} to {fixed}" if fixed else "",
        references=references,
        frameworks=frameworks,
        vulnerability=detail,
    )
    return f.with_fingerprint()


def nvd(score: float, vector: str) -> CVSS:
    version = vector.split("/", maxsplit=1)[0].removeprefix("CVSS:") if vector.startswith("CVSS:") else "2.0"
    return CVSS(version=version, vector=vector, score=score, source="nvd")


LOG4SHELL = vuln(
    "org.apache.logging.log4j:log4j-core",
    "CVE-2021-44228",
    "critical",
    "Apache Log4j2 JNDI features do not protect against attacker controlled LDAP and other JNDI related endpoints",
    aliases=("GHSA-jfh8-c2jp-5v3q",),
    fixed="2.15.0",
    source="ghsa",
    cvss=(nvd(10.0, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), nvd(9.3, "AV:N/AC:M/Au:N/C:C/I:C/A:C")),
    epss=0.97565,
    kev=True,
    risk=9.9,
    references=(
        "https://logging.apache.org/log4j/2.x/security.html",
        "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q",
    ),
)
LOG4J_2 = vuln(
    "org.apache.logging.log4j:log4j-core",
    "CVE-2021-45046",
    "critical",
    "Incomplete fix for Apache Log4j vulnerability",
    aliases=("GHSA-7rjr-3q55-vv33",),
    fixed="2.16.0",
    source="ghsa",
    cvss=(nvd(9.0, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H"),),
    epss=0.97,
    kev=True,
    risk=9.5,
)
RAPID_RESET = vuln(
    "golang.org/x/net",
    "CVE-2023-44487",
    "high",
    "HTTP/2 rapid reset can cause excessive work in net/http",
    aliases=("GHSA-qppj-fm5r-hxr3", "GHSA-4374-p667-p6c8", "GO-2023-2102"),
    fixed="v0.17.0",
    source="ghsa",
    cvss=(nvd(7.5, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),),
    epss=0.8,
    kev=True,
    risk=7.9,
)
ICONV = vuln(
    "libc6",
    "CVE-2024-2961",
    "high",
    "glibc: Out of bounds write in iconv may lead to remote code execution",
    aliases=("DSA-5678-1",),
    fixed="2.36-9+deb12u7",
    source="debian",
    cvss=(nvd(7.3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L"),),
    epss=0.0164,
    risk=6.1,
    frameworks=(("CWE", "CWE-787"),),
)
MINIZIP = vuln(
    "zlib1g",
    "CVE-2023-45853",
    "low",
    "zlib: integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_6",
    fix_state="will_not_fix",
    source="debian",
    cvss=(nvd(9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),),
    epss=0.0041,
    risk=2.2,
)
DJANGO_TRUNC = vuln(
    "Django",
    "CVE-2024-27351",
    "medium",
    "Django Regular expression denial-of-service in django.utils.text.Truncator.words()",
    aliases=("GHSA-vm8q-m57g-pff3", "PYSEC-2024-47"),
    fixed="4.2.11",
    source="ghsa",
    cvss=(CVSS("3.1", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", 5.9, "ghsa"),),
    epss=0.00084,
    risk=4.0,
)
OPENSSL_NOFIX = replace(
    vuln(
        "openssl-libs",
        "CVE-2024-5535",
        "low",
        "openssl: SSL_select_next_proto buffer overread",
        source="redhat",
        cvss=(CVSS("3.1", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N", 3.7, "redhat"),),
    ),
    suppressed=Suppression(
        source="ignore-file:.customhouseignore.yaml",
        reason="NPN/ALPN callbacks not used by our services",
        status="ignored",
        expires="2099-01-01",
    ),
)
AWS_KEY = Finding(
    id="aws-access-key-id",
    kind="secret",
    severity="critical",
    title="AWS access key ID",
    message="An AWS access key ID [AKIA...MPLE] is stored in the image",
    location=Location(path="app/config/.env", line=3, column=19, layer_index=1),
).with_fingerprint()

ALL = (LOG4SHELL, LOG4J_2, RAPID_RESET, ICONV, MINIZIP, DJANGO_TRUNC, OPENSSL_NOFIX, AWS_KEY)


def report(findings: tuple[Finding, ...] = ALL, **kw: object) -> ScanReport:
    inv = inventory()
    return ScanReport(
        target=inv.target,
        os=inv.os,
        findings=findings,
        inventory=inv,
        db={"schema_version": 1, "built_at": "2024-06-01T00:00:00Z", "age_days": 1.5},
        warnings=("usr/lib/python3/site-packages/broken.dist-info/METADATA: unreadable",),
        **kw,  # type: ignore[arg-type]
    )
