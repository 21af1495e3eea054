"""Real rpm databases for the rpm cataloger's tests, built with the real tools once per machine.

* Packages: small spec files built with `rpmbuild` (epochs set, unset and 0, noarch, a
  modularity label, a 40 KB description, 40 sub-packages of one source rpm: 48 in all).
* SQLite: installed with `rpm --justdb` into an `rpmdb.sqlite`, plus a gpg-pubkey pseudo-package
  imported with `rpm --import`, and one package erased again.
* BerkeleyDB: Debian's rpm cannot write BerkeleyDB any more, so Berkeley DB's own `db5.3_load`
  writes hash databases whose values are the very header blobs of the SQLite database (key =
  instance number, key 0 = rpm's counter), in both byte orders, three page sizes and with page
  checksums; Debian's rpm still *reads* them (`bdb_ro`), which is our oracle.
* ndb: Debian's rpm is built without it, so rpm's own package store (`rpmpkg.c`, from Debian's
  rpm source package) is compiled into a tiny put/get/delete tool; it writes the Packages.db
  and reads it back as the oracle.

Every expected value comes from those tools (`rpm -qa --qf`, `rpmpkgGet`), never from our code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import debian_mirror
from tests.conftest import cached_build

FIXTURE_VERSION = "v3"


@dataclass(frozen=True)
class Spec:
    name: str
    version: str
    release: str
    epoch: int | None
    license: str
    vendor: str | None = None
    noarch: bool = False
    subpackages: tuple[str, ...] = ()
    modularitylabel: str | None = None
    long_description: bool = False
    payload: int = 0  # bytes of the one file the main package ships (its SIZE)

    @property
    def evr(self) -> str:
        vr = f"{self.version}-{self.release}"
        return f"{self.epoch}:{vr}" if self.epoch is not None else vr

    @property
    def package_names(self) -> list[str]:
        return [self.name, *(f"{self.name}-{s}" for s in self.subpackages)]


SPECS = (
    Spec("alpha", "1.2.3", "4.el9", 2, "GPLv2+", "Customhouse QA", subpackages=("libs", "devel"), payload=12345),
    Spec(
        "beta",
        "0.9",
        "1.el9",
        None,
        "MIT",
        "Customhouse QA",
        noarch=True,
        subpackages=tuple(f"mod{i:02d}" for i in range(1, 41)),
    ),
    Spec(
        "gamma",
        "5.30",
        "2.module+el8.3.0+6613+6a6b2cb1",
        0,
        "Apache-2.0 AND BSD-3-Clause",
        "Customhouse QA",
        modularitylabel="perl:5.30:8030020200514134530:466bfc4c",
    ),
    Spec("delta", "3.0", "7.el9", None, "GPL-2.0-or-later", "Customhouse QA", long_description=True, payload=70000),
    Spec("epsilon", "2024.1", "1", 1, "LGPLv2+ and MIT"),
    Spec("zeta", "1.0", "0.1.rc1.el9", None, "BSD", "Other Vendor", noarch=True),
)
#: Installed, then erased again (leaves a hole in the databases).
ERASED = "zeta"
QUERY = (
    "%{NAME}\\t%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}"
    "\\t%{VENDOR}\\t%{MODULARITYLABEL}\\t%{LONGSIZE}\\n"
)
BDB_VARIANTS = {
    # name: (db_load -c options, key byte order, whether rpm's bdb_ro can read it)
    # 4 KiB pages, 26 buckets: every header in an overflow chain.
    "bdb-le-4k": (["db_pagesize=4096", "h_ffactor=2"], "<", True),
    # Big-endian writer, 512-byte pages: chains of up to ~90 overflow pages.
    "bdb-be-512": (["db_pagesize=512", "db_lorder=4321"], ">", True),
    # 16 KiB pages, one dense bucket: headers on the page and a bucket overflow page.
    "bdb-le-16k": (["db_pagesize=16384", "h_ffactor=1000"], "<", True),
    # Page checksums (32-byte page headers); rpm's reader does not know them, db5.3_dump does.
    "bdb-chksum-4k": (["db_pagesize=4096", "chksum=1"], "<", False),
}
TOOLS = ("rpm", "rpmbuild", "db5.3_load", "db5.3_dump", "gpg", "gcc")


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not Path("/usr/include/rpm/rpmlog.h").exists():
        missing.append("librpm-dev")
    if missing:
        pytest.skip(f"rpm fixtures need {', '.join(missing)} (apt-get install rpm db5.3-util gnupg gcc librpm-dev)")


def _run(cmd: list[str], **kw: object) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    out: str = p.stdout
    return out


def spec_text(s: Spec) -> str:
    lines = [
        f"Name: {s.name}",
        f"Version: {s.version}",
        f"Release: {s.release}",
        f"Summary: {s.name} test package",
        f"License: {s.license}",
    ]
    if s.epoch is not None:
        lines.append(f"Epoch: {s.epoch}")
    if s.vendor:
        lines.append(f"Vendor: {s.vendor}")
    if s.noarch:
        lines.append("BuildArch: noarch")
    lines.append("%description")
    if s.long_description:
        lines.extend(
            f"Line {i:04d} of a description long enough to need BerkeleyDB overflow pages." for i in range(600)
        )
    else:
        lines.append(f"The {s.name} package.")
    for sub in s.subpackages:
        lines += [f"%package {sub}", f"Summary: {s.name} {sub}", f"%description {sub}", f"The {sub} part."]
    if s.payload:
        lines += [
            "%install",
            f"mkdir -p %{{buildroot}}/usr/share/{s.name}",
            f"head -c {s.payload} /dev/zero > %{{buildroot}}/usr/share/{s.name}/data",
        ]
    lines += ["%files"]
    if s.payload:
        lines.append(f"/usr/share/{s.name}/data")
    for sub in s.subpackages:
        lines += [f"%files {sub}"]
    return "\n".join(lines) + "\n"


def _build_rpms(dst: Path) -> None:
    top = dst / "top"
    for d in ("SPECS", "RPMS", "BUILD", "BUILDROOT", "SRPMS", "SOURCES", "tmp"):
        (top / d).mkdir(parents=True)
    for s in SPECS:
        spec = top / "SPECS" / f"{s.name}.spec"
        spec.write_text(spec_text(s))
        cmd = ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", f"_tmppath {top / 'tmp'}"]
        cmd += ["--define", "debug_package %{nil}"]
        if s.modularitylabel:
            cmd += ["--define", f"modularitylabel {s.modularitylabel}"]
        _run([*cmd, str(spec)])
    found = sorted(p.name for p in (top / "RPMS").rglob("*.rpm"))
    expected = sum(len(s.package_names) for s in SPECS)
    if len(found) != expected:
        raise RuntimeError(f"rpmbuild produced {len(found)} packages, expected {expected}")


def built_rpms() -> list[Path]:
    require_tools()
    root = cached_build(f"rpm-fixture-rpms-{FIXTURE_VERSION}", _build_rpms)
    return sorted((root / "top" / "RPMS").rglob("*.rpm"))


def rpm_query(dbpath: Path, backend: str) -> list[str]:
    """`rpm -qa` lines of our query format, sorted: the oracle."""
    out = _run(["rpm", "-qa", "--dbpath", str(dbpath), "--define", f"_db_backend {backend}", "--qf", QUERY])
    return sorted(line for line in out.splitlines() if line)


def _gpg_key(workdir: Path) -> Path:
    home = workdir / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    try:
        _run(
            [
                "gpg",
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "Customhouse Test <test@example.invalid>",
                "rsa2048",
                "sign",
                "never",
            ],
            env=env,
        )
        key = workdir / "key.asc"
        key.write_text(_run(["gpg", "--armor", "--export"], env=env))
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True, check=False)
    shutil.rmtree(home)
    return key


def _bdb_dump(path: Path, pairs: list[tuple[int, bytes]], options: list[str], order: str) -> None:
    """A db_load input file: our keys and values as hex, Berkeley DB writes the file."""
    with open(path, "w") as f:
        f.write("VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n")
        f.write(f" {struct.pack(order + 'I', 0).hex()}\n {struct.pack(order + 'I', max(h for h, _ in pairs)).hex()}\n")
        for hnum, blob in pairs:
            f.write(f" {struct.pack(order + 'I', hnum).hex()}\n {blob.hex()}\n")
        f.write("DATA=END\n")


def write_bdb(out: Path, pairs: list[tuple[int, bytes]], options: list[str], order: str) -> None:
    dump = out.with_suffix(".dump")
    _bdb_dump(dump, pairs, options, order)
    cmd = ["db5.3_load", "-f", str(dump)]
    for opt in options:
        cmd += ["-c", opt]
    _run([*cmd, str(out)])
    dump.unlink()


def sqlite_blobs(db: Path) -> list[tuple[int, bytes]]:
    """(hnum, blob) straight from SQLite's own library, read-only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [(int(h), bytes(b)) for h, b in conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum")]
    finally:
        conn.close()


def _build_databases(dst: Path) -> None:
    rpms = built_rpms()
    dst.mkdir(parents=True)
    sq = dst / "sqlite"
    sq.mkdir()
    (dst / "tmp").mkdir()
    base = ["rpm", "--dbpath", str(sq), "--define", "_db_backend sqlite", "--define", f"_tmppath {dst / 'tmp'}"]
    _run([*base, "--initdb"])
    _run([*base, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos", *map(str, rpms)])
    _run([*base, "--import", str(_gpg_key(dst))])
    _run([*base, "-e", "--justdb", "--nodeps", "--noscripts", ERASED])
    (dst / "oracle-sqlite.tsv").write_text("\n".join(rpm_query(sq, "sqlite")) + "\n")
    pairs = sqlite_blobs(sq / "rpmdb.sqlite")
    for name, (options, order, rpm_reads) in BDB_VARIANTS.items():
        d = dst / name
        d.mkdir()
        write_bdb(d / "Packages", pairs, options, order)
        if rpm_reads:
            (dst / f"oracle-{name}.tsv").write_text("\n".join(rpm_query(d, "bdb_ro")) + "\n")
    # A second, smaller BerkeleyDB: for precedence tests where two databases disagree.
    d = dst / "bdb-subset"
    d.mkdir()
    write_bdb(d / "Packages", pairs[:5], ["db_pagesize=4096"], "<")
    (dst / "oracle-bdb-subset.tsv").write_text("\n".join(rpm_query(d, "bdb_ro")) + "\n")
    # ndb: rpm's own package store writes it; delete one package and add it back so the file
    # has a free slot and a blob that is not in slot order.
    tool = ndbtool()
    nd = dst / "ndb"
    nd.mkdir()
    blobs = dst / "blobs"
    blobs.mkdir()
    files = []
    for hnum, blob in pairs:
        f = blobs / str(hnum)
        f.write_bytes(blob)
        files.append(str(f))
    _run([str(tool), "put", str(nd / "Packages.db"), *files])
    _run([str(tool), "del", str(nd / "Packages.db"), "3"])
    _run([str(tool), "put", str(nd / "Packages.db"), files[2]])
    got = dst / "ndb-oracle"
    got.mkdir()
    _run([str(tool), "get", str(nd / "Packages.db"), str(got)])


def databases() -> Path:
    require_tools()
    return cached_build(f"rpm-fixture-dbs-{FIXTURE_VERSION}", _build_databases)


# ---------------------------------------------------------------------------- ndb tool

_SHIM = """\
#include <stdlib.h>
#include <string.h>
#define _(s) (s)
static inline void *xmalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) abort(); return p; }
static inline void *xcalloc(size_t a, size_t b) { void *p = calloc(a ? a : 1, b ? b : 1); if (!p) abort(); return p; }
static inline void *xrealloc(void *q, size_t n) { void *p = realloc(q, n ? n : 1); if (!p) abort(); return p; }
static inline char *xstrdup(const char *s) { char *p = strdup(s); if (!p) abort(); return p; }
"""

# Our driver around rpm's package store API (rpmpkg.h): put files, delete an index, get all.
_TOOL = r"""
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include "rpmpkg.h"

static unsigned char *slurp(const char *fn, unsigned int *len)
{
    FILE *f = fopen(fn, "rb");
    long n;
    unsigned char *b;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc(n ? n : 1);
    if (fread(b, 1, n, f) != (size_t)n) { fclose(f); return NULL; }
    fclose(f);
    *len = (unsigned int)n;
    return b;
}

int main(int argc, char **argv)
{
    rpmpkgdb db;
    if (argc < 3) return 2;
    if (rpmpkgOpen(&db, argv[2], O_RDWR | O_CREAT, 0644)) { fprintf(stderr, "cannot open %s\n", argv[2]); return 1; }
    if (argv[1][0] == 'p') {
        for (int i = 3; i < argc; i++) {
            unsigned int len, idx;
            unsigned char *b = slurp(argv[i], &len);
            if (!b || rpmpkgNextPkgIdx(db, &idx) || rpmpkgPut(db, idx, b, len)) {
                fprintf(stderr, "put failed\n");
                return 1;
            }
            printf("%u\n", idx);
            free(b);
        }
    } else if (argv[1][0] == 'd') {
        if (argc < 4 || rpmpkgDel(db, (unsigned int)atoi(argv[3]))) { fprintf(stderr, "del failed\n"); return 1; }
    } else {
        unsigned int *list, n;
        if (argc < 4 || rpmpkgList(db, &list, &n)) return 1;
        for (unsigned int i = 0; i < n; i++) {
            unsigned char *b;
            unsigned int len;
            char path[4096];
            FILE *f;
            if (rpmpkgGet(db, list[i], &b, &len)) { fprintf(stderr, "get %u failed\n", list[i]); return 1; }
            snprintf(path, sizeof path, "%s/%u", argv[3], list[i]);
            f = fopen(path, "wb");
            if (!f || fwrite(b, 1, len, f) != len) return 1;
            fclose(f);
            free(b);
        }
    }
    rpmpkgClose(db);
    return 0;
}
"""


def _fetch_rpm_source(workdir: Path) -> Path:
    """Debian's rpm source tarball (the version of the installed librpm), checked against its .dsc."""
    version = _run(["dpkg-query", "-W", "-f", "${source:Version}", "librpm-dev"]).strip()
    version = version.split(":", 1)[-1]
    pool = f"{debian_mirror()}/pool/main/r/rpm/"
    try:
        dsc = urllib.request.urlopen(f"{pool}rpm_{version}.dsc", timeout=60).read().decode()
    except OSError as exc:
        pytest.skip(f"cannot fetch Debian's rpm source package for the ndb oracle: {exc}")
    m = re.search(r"^Checksums-Sha256:\n((?: .*\n)+)", dsc, re.MULTILINE)
    if not m:
        raise RuntimeError("rpm .dsc has no Checksums-Sha256")
    for line in m.group(1).splitlines():
        digest, _size, name = line.split()
        if ".orig.tar" in name:
            out = workdir / name
            with urllib.request.urlopen(pool + name, timeout=300) as r, open(out, "wb") as f:
                shutil.copyfileobj(r, f)
            if hashlib.sha256(out.read_bytes()).hexdigest() != digest:
                raise RuntimeError(f"{name}: checksum mismatch")
            return out
    raise RuntimeError("rpm .dsc names no orig tarball")


def _build_ndbtool(dst: Path) -> None:
    dst.mkdir(parents=True)
    tarball = _fetch_rpm_source(dst)
    with tarfile.open(tarball) as tf:
        for member in tf.getmembers():
            if re.search(r"/lib/backend/ndb/rpmpkg\.[ch]$", member.name):
                src = tf.extractfile(member)
                assert src is not None
                (dst / Path(member.name).name).write_bytes(src.read())
    tarball.unlink()
    (dst / "system.h").write_text(_SHIM)
    (dst / "ndbtool.c").write_text(_TOOL)
    sources = [str(dst / "ndbtool.c"), str(dst / "rpmpkg.c")]
    _run(["gcc", "-O1", "-I", str(dst), "-o", str(dst / "ndbtool"), *sources, "-lrpmio"])


def ndbtool() -> Path:
    require_tools()
    return cached_build(f"rpm-fixture-ndbtool-{FIXTURE_VERSION}", _build_ndbtool) / "ndbtool"


def bdb_dump_pairs(db: Path) -> dict[bytes, bytes]:
    """Every key/value as Berkeley DB's own `db5.3_dump` reads them."""
    out = _run(["db5.3_dump", str(db)])
    body = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0]
    values = [bytes.fromhex(line.strip()) for line in body.splitlines() if line.startswith(" ")]
    return dict(zip(values[::2], values[1::2], strict=True))
