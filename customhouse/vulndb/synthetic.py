"""A large synthetic vulnerability database for matching benchmarks.

The real feeds cannot be downloaded on development machines, and the samples in
`../shared/data` are two orders of magnitude smaller than a production database, so a
benchmark of matching speed needs a database of realistic size and shape: about the share of
rows per ecosystem a full build has (Debian and Ubuntu dominate), popular packages with
thousands of rows (the kernel, browsers, ImageMagick) and a long tail with a handful each,
version strings in each ecosystem's own style, and the usual mix of fix states. Real package
names are mixed in so an image's packages actually hit rows.

    from customhouse.vulndb.synthetic import generate
    stats = generate(Path("big.db"), affected_rows=500_000, seed=1)

or `python -m customhouse.vulndb.synthetic OUT [--rows N] [--seed S]`. Output is deterministic
for a given seed (apart from the build time in `meta`), written through the same writer and
atomic rename as `db build`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from customhouse import __version__
from customhouse.vulndb.build import DatabaseWriter, db_lock, fsync_and_replace, load_eol, temp_path
from customhouse.vulndb.feeds import OPEN_RANGE, Affected, FeedStats, Vuln, fixed_range
from customhouse.vulndb.schema import META_BUILDER, META_BUILT, META_SCHEMA, SCHEMA_VERSION

# (ecosystem key, share of rows, version style); shares follow a full build's proportions.
ECOSYSTEMS: tuple[tuple[str, float, str], ...] = (
    ("debian:11", 0.11, "deb"),
    ("debian:12", 0.12, "deb"),
    ("debian:13", 0.07, "deb"),
    ("debian:10", 0.05, "deb"),
    ("ubuntu:20.04", 0.07, "ubuntu"),
    ("ubuntu:22.04", 0.08, "ubuntu"),
    ("ubuntu:24.04", 0.06, "ubuntu"),
    ("rhel:8", 0.04, "rpm"),
    ("rhel:9", 0.04, "rpm"),
    ("almalinux:9", 0.02, "rpm"),
    ("rocky:9", 0.02, "rpm"),
    ("sles:15.6", 0.03, "rpm"),
    ("opensuse:15.6", 0.02, "rpm"),
    ("alpine:3.19", 0.015, "apk"),
    ("alpine:3.20", 0.015, "apk"),
    ("alpine:3.21", 0.015, "apk"),
    ("wolfi", 0.01, "apk"),
    ("chainguard", 0.005, "apk"),
    ("npm", 0.06, "semver"),
    ("maven", 0.04, "semver"),
    ("pypi", 0.035, "pep440"),
    ("golang", 0.03, "go"),
    ("composer", 0.02, "semver"),
    ("cargo", 0.01, "semver"),
    ("gem", 0.01, "semver"),
    ("nuget", 0.01, "semver"),
)

# Real names, most popular first (rank decides how many rows a package gets).
_OS_NAMES = [
    "linux",
    "linux-hwe",
    "chromium",
    "firefox-esr",
    "imagemagick",
    "thunderbird",
    "openjdk-17",
    "qemu",
    "xen",
    "webkit2gtk",
    "php8.2",
    "tcpdump",
    "binutils",
    "wireshark",
    "ghostscript",
    "mysql-8.0",
    "mariadb",
    "postgresql-15",
    "tiff",
    "libxml2",
    "openssl",
    "curl",
    "glibc",
    "python3.11",
    "ruby3.1",
    "nodejs",
    "vim",
    "git",
    "openssh",
    "samba",
    "bind9",
    "ffmpeg",
    "libvpx",
    "poppler",
    "gnutls28",
    "nss",
    "krb5",
    "expat",
    "zlib",
    "systemd",
    "sudo",
    "bash",
    "coreutils",
    "tar",
    "gzip",
    "xz-utils",
    "bzip2",
    "sqlite3",
    "pcre2",
    "libpng1.6",
    "libjpeg-turbo",
    "freetype",
    "fontconfig",
    "cairo",
    "pango1.0",
    "gdk-pixbuf",
    "glib2.0",
    "dbus",
    "util-linux",
    "e2fsprogs",
    "shadow",
    "pam",
    "perl",
    "busybox",
    "musl",
    "apk-tools",
    "libssh2",
    "nghttp2",
    "c-ares",
    "libidn2",
    "libtasn1-6",
    "p11-kit",
    "gnupg2",
    "libgcrypt20",
    "libxslt",
    "icu",
]
_LANG_NAMES = {
    "npm": [
        "lodash",
        "minimist",
        "axios",
        "express",
        "jsonwebtoken",
        "node-fetch",
        "ws",
        "semver",
        "tar",
        "moment",
        "qs",
        "follow-redirects",
        "@babel/traverse",
        "undici",
        "webpack",
        "next",
    ],
    "maven": [
        "org.apache.logging.log4j:log4j-core",
        "com.fasterxml.jackson.core:jackson-databind",
        "org.springframework:spring-web",
        "org.yaml:snakeyaml",
        "io.netty:netty-codec-http",
        "org.apache.tomcat.embed:tomcat-embed-core",
        "com.google.guava:guava",
        "commons-io:commons-io",
    ],
    "pypi": [
        "django",
        "pillow",
        "urllib3",
        "requests",
        "jinja2",
        "cryptography",
        "werkzeug",
        "pyyaml",
        "flask",
        "aiohttp",
        "tensorflow",
        "numpy",
    ],
    "golang": [
        "stdlib",
        "golang.org/x/net",
        "golang.org/x/crypto",
        "github.com/gin-gonic/gin",
        "google.golang.org/grpc",
        "github.com/docker/docker",
        "k8s.io/kubernetes",
        "github.com/containerd/containerd",
    ],
    "composer": ["laravel/framework", "symfony/http-kernel", "guzzlehttp/guzzle", "twig/twig", "phpmailer/phpmailer"],
    "cargo": ["tokio", "hyper", "openssl", "regex", "time", "smallvec"],
    "gem": ["rails", "nokogiri", "rack", "actionpack", "activesupport"],
    "nuget": ["newtonsoft.json", "system.text.json", "microsoft.aspnetcore.app", "system.net.http"],
}
_FIX_STATES = (("fixed", 0.80), ("not_fixed", 0.12), ("will_not_fix", 0.04), ("end_of_life", 0.02), ("unknown", 0.02))
_SEVERITIES = ("critical", "high", "medium", "low", "")
_WORDS = [
    "buffer",
    "overflow",
    "in",
    "the",
    "parser",
    "allows",
    "remote",
    "attackers",
    "to",
    "cause",
    "a",
    "denial",
    "of",
    "service",
    "or",
    "execute",
    "arbitrary",
    "code",
    "via",
    "a",
    "crafted",
    "file;",
    "use",
    "after",
    "free",
    "when",
    "handling",
    "malformed",
    "input;",
    "improper",
    "validation",
    "of",
    "length",
    "fields",
]


@dataclass
class SyntheticStats:
    path: Path
    affected: int
    vulnerabilities: int
    seconds: float
    size: int
    per_ecosystem: dict[str, int] = field(default_factory=dict)


def _version(style: str, rnd: random.Random) -> str:
    a, b, c = rnd.randint(0, 12), rnd.randint(0, 30), rnd.randint(0, 40)
    if style == "deb":
        return f"{a}.{b}.{c}-{rnd.randint(1, 9)}+deb{rnd.choice((10, 11, 12, 13))}u{rnd.randint(1, 9)}"
    if style == "ubuntu":
        return f"{a}.{b}.{c}-{rnd.randint(1, 9)}ubuntu{rnd.randint(0, 5)}.{rnd.randint(1, 20)}"
    if style == "rpm":
        return f"{a}.{b}.{c}-{rnd.randint(1, 40)}.el{rnd.choice((8, 9))}_{rnd.randint(0, 6)}"
    if style == "apk":
        return f"{a}.{b}.{c}-r{rnd.randint(0, 12)}"
    if style == "go":
        return f"{a}.{b}.{c}"
    if style == "pep440":
        return f"{a}.{b}.{c}" if rnd.random() < 0.9 else f"{a}.{b}.{c}.post{rnd.randint(1, 3)}"
    return f"{a}.{b}.{c}"


def _names(key: str, style: str, count: int) -> list[str]:
    real = _OS_NAMES if ":" in key or key in ("wolfi", "chainguard") else _LANG_NAMES.get(key, [])
    names = list(real)
    i = 0
    while len(names) < count:
        i += 1
        if key == "maven":
            names.append(f"org.example{i % 97}:artifact-{i}")
        elif key == "golang":
            names.append(f"github.com/example{i % 89}/module{i}")
        elif key == "composer":
            names.append(f"vendor{i % 71}/package{i}")
        elif key == "npm" and i % 5 == 0:
            names.append(f"@scope{i % 37}/pkg{i}")
        else:
            names.append(f"lib{_WORDS[i % len(_WORDS)].strip(';,')}{i}")
    return names


def _pick(weights: tuple[tuple[str, float], ...], rnd: random.Random) -> str:
    x = rnd.random()
    for value, w in weights:
        x -= w
        if x <= 0:
            return value
    return weights[-1][0]


def generate(path: Path, affected_rows: int = 500_000, seed: int = 1) -> SyntheticStats:
    """Write a synthetic database with `affected_rows` rows to `path` (atomically)."""
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    total_share = sum(share for _, share, _ in ECOSYSTEMS)
    vuln_count = max(1, affected_rows // 6)
    cves = [f"CVE-{2015 + i % 11}-{10000 + i}" for i in range(vuln_count)]
    per_eco: Counter[str] = Counter()
    with db_lock(path):
        tmp = temp_path(path, "synthetic")
        writer = DatabaseWriter(tmp)
        try:
            for i, cve in enumerate(cves):
                words = rnd.sample(_WORDS, 12)
                score = round(rnd.uniform(2.0, 10.0), 1)
                vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
                writer.vuln(
                    Vuln(
                        id=cve,
                        source="synthetic",
                        summary=" ".join(words[:6]),
                        details=" ".join(words * 3),
                        published="2024-01-01T00:00:00Z",
                        modified="2024-06-01T00:00:00Z",
                        severity=rnd.choice(_SEVERITIES),
                        severity_source="synthetic",
                        references=[f"https://example.org/advisories/{cve}"],
                        cvss=[("3.1", vector, score, "synthetic")],
                    )
                )
                writer.cvss(cve, "nvd@nist.gov", "3.1", vector, score)
                writer.epss(cve, round(rnd.random() ** 4, 5), round(rnd.random(), 5), "2025-01-01")
                if i % 100 == 0:
                    writer.kev(cve, f"Example product issue {i}", "2024-01-01", "2024-02-01", "Unknown")
                if i % 7 == 0:
                    writer.aliases(cve, [f"GHSA-{i:04x}-synt-hetc"])
            for key, share, style in ECOSYSTEMS:
                n = round(affected_rows * share / total_share)
                names = _names(key, style, max(50, n // 15))
                # Zipf-like popularity: the top package gets a few percent of its ecosystem's
                # rows (the kernel in Debian), most get a handful, as in real feeds.
                cum = list(itertools.accumulate(1.0 / (k + 5) ** 1.05 for k in range(len(names))))
                picks = rnd.choices(names, cum_weights=cum, k=n)
                batch: list[Affected] = []
                for package in picks:
                    cve = cves[rnd.randrange(vuln_count)]
                    if style in ("semver", "go", "pep440"):
                        fixed = _version(style, rnd)
                        events = [["introduced", "0"], ["fixed", fixed]]
                        if rnd.random() < 0.3:
                            events += [["introduced", _version(style, rnd)], ["fixed", _version(style, rnd)]]
                        rtype = "SEMVER" if style in ("semver", "go") else "ECOSYSTEM"
                        doc = {"ranges": [{"type": rtype, "events": events}], "versions": []}
                        ranges = json.dumps(doc, separators=(",", ":"))
                        row = Affected(cve, key, package, ranges, "fixed", fixed, "", "synthetic")
                    else:
                        state = _pick(_FIX_STATES, rnd)
                        fixed = _version(style, rnd) if state == "fixed" else ""
                        ranges = fixed_range(fixed) if fixed else OPEN_RANGE
                        severity = rnd.choice(_SEVERITIES)
                        row = Affected(cve, key, package, ranges, state, fixed, severity, "synthetic")
                    batch.append(row)
                    if len(batch) >= 10_000:
                        writer.affected(batch)
                        batch = []
                if batch:
                    writer.affected(batch)
                per_eco[key] = n
            stats = FeedStats(
                name="synthetic",
                url=f"synthetic:seed={seed}",
                fetched_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                records=sum(per_eco.values()),
            )
            meta = {
                META_SCHEMA: str(SCHEMA_VERSION),
                META_BUILT: stats.fetched_at,
                META_BUILDER: f"customhouse {__version__} (synthetic)",
            }
            writer.finish([stats], meta, load_eol())
            fsync_and_replace(tmp, path)
        except BaseException:
            writer.abort()
            raise
    return SyntheticStats(
        path, sum(per_eco.values()), vuln_count, time.perf_counter() - t0, path.stat().st_size, dict(per_eco)
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m customhouse.vulndb.synthetic", description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=500_000, help="affected rows (default 500,000)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    s = generate(args.out, args.rows, args.seed)
    size = s.size / 1e6
    print(f"{s.path}: {s.affected} affected rows, {s.vulnerabilities} advisories, {size:.1f} MB, {s.seconds:.1f} s")


if __name__ == "__main__":
    main()
