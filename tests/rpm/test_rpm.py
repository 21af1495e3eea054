"""The rpm cataloger against real rpm databases, with rpm (and Berkeley DB) as the oracle.

Every database here was written by the real tools (see builders.py): `rpm --justdb` for SQLite,
`db5.3_load` for BerkeleyDB, rpm's own `rpmpkg.c` for ndb. What we parse must equal what
`rpm -qa --qf` prints for the same database (`bdb_ro` for BerkeleyDB; the SQLite database's
listing for ndb, whose blobs are the same), field by field, and the raw blobs must equal what
Berkeley DB's `db5.3_dump` and rpm's `rpmpkgGet` return.
"""

from __future__ import annotations

import random
import sqlite3
import struct
import time
from pathlib import Path

import pytest

from customhouse.analyzers._rpmdb.bdb import iter_bdb_blobs
from customhouse.analyzers._rpmdb.header import Header
from customhouse.analyzers._rpmdb.ndb import iter_ndb_blobs
from customhouse.analyzers._rpmdb.sqlite import iter_sqlite_blobs
from customhouse.analyzers.base import BytesBlob
from customhouse.analyzers.rpm import RpmAnalyzer, package_from_header, parse_macros, parse_sourcerpm
from customhouse.catalog import catalog
from customhouse.image.writer import ImageBuilder, dir_entry, file_entry, link_entry
from customhouse.licenses import normalize_license
from customhouse.model import FileInfo, Package
from customhouse.settings import Settings
from tests.rpm.builders import BDB_VARIANTS, ERASED, SPECS, bdb_dump_pairs, databases, rpm_query

Row = tuple[str, str, str, str, str, str, str, str]
OS_RELEASE = b'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n'
ANALYZER = RpmAnalyzer()


@pytest.fixture(scope="module")
def dbs() -> Path:
    return databases()


def oracle(path: Path) -> list[Row]:
    """rpm's listing as rows: '(none)' means the tag is absent; gpg-pubkey stays in."""
    rows = []
    for line in path.read_text().splitlines():
        f = ["" if v == "(none)" else v for v in line.split("\t")]
        name, evr, arch, srpm, lic, vendor, label, size = f
        rows.append((name, evr, arch, srpm, normalize_license(lic) if lic else "", vendor, label, size))
    return sorted(rows)


def ours(packages: tuple[Package, ...] | list[Package]) -> list[Row]:
    rows = []
    for p in packages:
        lic = p.licenses[0] if p.licenses else ""
        assert len(p.licenses) <= 1
        rows.append(
            (
                p.name,
                p.version,
                p.arch,
                p.meta("sourcerpm"),
                lic,
                p.meta("vendor"),
                p.meta("modularitylabel"),
                p.meta("size"),
            )
        )
    return sorted(rows)


def without_pubkeys(rows: list[Row]) -> list[Row]:
    keys = [r for r in rows if r[0] == "gpg-pubkey"]
    assert len(keys) == 1, "the fixture imported one key: the oracle must list it"
    return [r for r in rows if r[0] != "gpg-pubkey"]


def analyze(path: str, data: bytes) -> tuple[Package, ...]:
    res = ANALYZER.analyze(FileInfo(path, "file", len(data)), BytesBlob(data))
    assert res is not None
    return res.packages


# ---------------------------------------------------------------------------- backends vs rpm


def test_sqlite_equals_rpm_query(dbs: Path) -> None:
    expected = oracle(dbs / "oracle-sqlite.tsv")
    assert len(expected) == 48  # 48 built, one erased, plus the gpg-pubkey
    assert ERASED not in {r[0] for r in expected}
    got = ours(analyze("var/lib/rpm/rpmdb.sqlite", (dbs / "sqlite" / "rpmdb.sqlite").read_bytes()))
    assert got == without_pubkeys(expected)


@pytest.mark.parametrize("variant", sorted(BDB_VARIANTS))
def test_berkeleydb_equals_rpm_and_db_dump(dbs: Path, variant: str) -> None:
    path = dbs / variant / "Packages"
    data = path.read_bytes()
    # Raw level: the same keys and values Berkeley DB itself reads.
    order = BDB_VARIANTS[variant][1]
    dumped = bdb_dump_pairs(path)
    with open(path, "rb") as f:
        pairs = list(iter_bdb_blobs(f))
    expected_pairs = {struct.unpack(order + "I", k)[0]: v for k, v in dumped.items()}
    assert expected_pairs.pop(0) == struct.pack(order + "I", max(i for i, _ in pairs))  # rpm's counter record
    assert dict(pairs) == expected_pairs
    assert len(pairs) == len(expected_pairs)
    # Package level: rpm's own bdb_ro reader where it can read the file, else the same set via SQLite.
    oracle_file = dbs / f"oracle-{variant}.tsv"
    expected = oracle(oracle_file if oracle_file.exists() else dbs / "oracle-sqlite.tsv")
    assert ours(analyze("var/lib/rpm/Packages", data)) == without_pubkeys(expected)


def test_ndb_equals_rpmpkg_and_rpm_query(dbs: Path) -> None:
    path = dbs / "ndb" / "Packages.db"
    with open(path, "rb") as f:
        pairs = dict(iter_ndb_blobs(f, path.stat().st_size))
    expected = {int(p.name): p.read_bytes() for p in (dbs / "ndb-oracle").iterdir()}
    assert pairs == expected
    assert len(pairs) == 48
    got = ours(analyze("usr/lib/sysimage/rpm/Packages.db", path.read_bytes()))
    assert got == without_pubkeys(oracle(dbs / "oracle-sqlite.tsv"))


def test_fields_follow_the_spec_files(dbs: Path) -> None:
    """Source package, EVR and labels against what the spec files say (independent of rpm -q)."""
    pkgs = {p.name: p for p in analyze("var/lib/rpm/rpmdb.sqlite", (dbs / "sqlite/rpmdb.sqlite").read_bytes())}
    seen = 0
    for spec in SPECS:
        for name in spec.package_names:
            if spec.name == ERASED:
                assert name not in pkgs
                continue
            p = pkgs[name]
            seen += 1
            assert p.version == spec.evr
            assert (p.source_name, p.source_version) == (spec.name, spec.evr)
            assert p.meta("sourcerpm") == f"{spec.name}-{spec.version}-{spec.release}.src.rpm"
            assert p.arch == ("noarch" if spec.noarch else "x86_64")
            assert p.meta("vendor") == (spec.vendor or "")
            assert p.meta("modularitylabel") == (spec.modularitylabel or "")
            assert p.type == "rpm" and p.found_by == "rpm"
    assert seen == len(pkgs) == 47
    assert pkgs["gamma"].version.startswith("0:")  # Epoch: 0 is set, so it shows
    assert "epoch" not in pkgs["delta"].version and ":" not in pkgs["delta"].version
    assert pkgs["alpha"].meta("size") == "12345"
    assert pkgs["alpha"].licenses == ("GPL-2.0-or-later",)
    assert pkgs["epsilon"].licenses == ("LGPLv2+ and MIT",)  # not an SPDX id: kept verbatim


def test_parse_sourcerpm() -> None:
    assert parse_sourcerpm("bash-5.1.8-6.el9.src.rpm") == ("bash", "5.1.8-6.el9")
    assert parse_sourcerpm("python3-pip-wheel-21.2.3-7.el9.nosrc.rpm") == ("python3-pip-wheel", "21.2.3-7.el9")
    assert parse_sourcerpm("nonsense.src.rpm") is None
    assert parse_sourcerpm("a-1-2.rpm") is None


# ---------------------------------------------------------------------------- whole pipeline


def _image(tmp_path: Path, layers: list[list[tuple[object, bytes | None]]]) -> str:
    b = ImageBuilder(tmp_path / "build")
    for i, entries in enumerate(layers):
        b.add_layer_entries(entries, created_by=f"layer {i}")  # type: ignore[arg-type]
    b.write_oci_layout(tmp_path / "img")
    return f"oci-layout:{tmp_path / 'img'}"


def _dir_entries(path: str) -> list[tuple[object, bytes | None]]:
    parts = path.split("/")
    return [dir_entry("/".join(parts[: i + 1])) for i in range(len(parts))]


def _db_files(src: Path, dst_dir: str) -> list[tuple[object, bytes | None]]:
    return [file_entry(f"{dst_dir}/{p.name}", p.read_bytes()) for p in sorted(src.iterdir()) if p.is_file()]


def test_catalog_reports_rpm_purls(tmp_path: Path, settings: Settings, dbs: Path) -> None:
    base = [*_dir_entries("etc"), file_entry("etc/os-release", OS_RELEASE), *_dir_entries("var/lib/rpm")]
    spec = _image(tmp_path, [[*base, *_db_files(dbs / "sqlite", "var/lib/rpm")]])
    inv = catalog(spec, settings, analyzers=["os", "rpm"]).inventory
    assert inv.os is not None and (inv.os.family, inv.os.version) == ("rhel", "9.4")
    rpms = [p for p in inv.packages if p.type == "rpm"]
    assert ours(rpms) == without_pubkeys(oracle(dbs / "oracle-sqlite.tsv"))
    assert {p.path for p in rpms} == {"var/lib/rpm/rpmdb.sqlite"}
    assert {p.layer_index for p in rpms} == {0}
    purls = {p.name: p.purl for p in rpms}
    assert purls["alpha-libs"] == (
        "pkg:rpm/redhat/alpha-libs@1.2.3-4.el9?arch=x86_64&distro=rhel-9.4&epoch=2&upstream=alpha-1.2.3-4.el9.src.rpm"
    )
    assert purls["beta-mod07"] == (
        "pkg:rpm/redhat/beta-mod07@0.9-1.el9?arch=noarch&distro=rhel-9.4&upstream=beta-0.9-1.el9.src.rpm"
    )
    # Epoch 0 is the default: no qualifier, as the purl spec for rpm says.
    assert purls["gamma"] == (
        "pkg:rpm/redhat/gamma@5.30-2.module%2Bel8.3.0%2B6613%2B6a6b2cb1?arch=x86_64&distro=rhel-9.4"
        "&upstream=gamma-5.30-2.module%2Bel8.3.0%2B6613%2B6a6b2cb1.src.rpm"
    )
    assert not inv.warnings
    # Second run: every layer from the cache (results and notes survive its JSON encoding).
    again = catalog(spec, settings, analyzers=["os", "rpm"])
    assert again.cache_hits == 1
    assert again.inventory.packages == inv.packages


def test_rpm_autodetection_order_in_one_directory(tmp_path: Path, settings: Settings, dbs: Path) -> None:
    """SQLite and a (different) BerkeleyDB side by side: rpm opens SQLite, so must we."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "rpmdb.sqlite").write_bytes((dbs / "sqlite/rpmdb.sqlite").read_bytes())
    (mixed / "Packages").write_bytes((dbs / "bdb-subset/Packages").read_bytes())
    # An unknown configured backend makes rpm autodetect from the files present.
    expected = [line.split("\t")[0] for line in rpm_query(mixed, "none")]
    assert len(expected) == 48
    spec = _image(tmp_path, [[*_dir_entries("var/lib/rpm"), *_db_files(mixed, "var/lib/rpm")]])
    rpms = catalog(spec, settings, analyzers=["rpm"]).inventory.packages
    assert sorted(p.name for p in rpms) == sorted(n for n in expected if n != "gpg-pubkey")
    assert {p.path for p in rpms} == {"var/lib/rpm/rpmdb.sqlite"}


def test_ndb_preferred_over_berkeleydb(tmp_path: Path, settings: Settings, dbs: Path) -> None:
    """rpm's detection order is sqlite, ndb, bdb (lib/backend/dbi.c): ndb wins over a stale Packages."""
    d = "usr/lib/sysimage/rpm"
    entries = [
        *_dir_entries(d),
        file_entry(f"{d}/Packages", (dbs / "bdb-subset/Packages").read_bytes()),
        file_entry(f"{d}/Packages.db", (dbs / "ndb/Packages.db").read_bytes()),
    ]
    rpms = catalog(_image(tmp_path, [entries]), settings, analyzers=["rpm"]).inventory.packages
    assert len(rpms) == 47
    assert {p.path for p in rpms} == {f"{d}/Packages.db"}


def test_sysimage_through_symlink_replaces_old_var_lib_rpm(tmp_path: Path, settings: Settings, dbs: Path) -> None:
    """Layer 0: a real /var/lib/rpm (BerkeleyDB, 5 packages). Layer 1: the Fedora/SUSE layout,
    /var/lib/rpm a symlink to /usr/lib/sysimage/rpm holding SQLite. Only the latter counts,
    each package once."""
    lower = [
        *_dir_entries("var/lib/rpm"),
        file_entry("var/lib/rpm/Packages", (dbs / "bdb-subset/Packages").read_bytes()),
    ]
    upper = [
        *_dir_entries("usr/lib/sysimage/rpm"),
        *_db_files(dbs / "sqlite", "usr/lib/sysimage/rpm"),
        link_entry("var/lib/rpm", "../../usr/lib/sysimage/rpm"),
    ]
    rpms = catalog(_image(tmp_path, [lower, upper]), settings, analyzers=["rpm"]).inventory.packages
    assert ours(rpms) == without_pubkeys(oracle(dbs / "oracle-sqlite.tsv"))
    assert {p.path for p in rpms} == {"usr/lib/sysimage/rpm/rpmdb.sqlite"}
    assert {p.layer_index for p in rpms} == {1}


@pytest.mark.parametrize(
    ("macros", "expected_path"),
    [
        (None, "var/lib/rpm/Packages"),
        (b"%_usr\t\t\t/usr\n%_dbpath\t\t%{_usr}/lib/sysimage/rpm\n", "usr/lib/sysimage/rpm/rpmdb.sqlite"),
        (b"%_dbpath\t\t%{_var}/lib/rpm\n", "var/lib/rpm/Packages"),
    ],
)
def test_two_real_directories_follow_dbpath_macro(
    tmp_path: Path, settings: Settings, dbs: Path, macros: bytes | None, expected_path: str
) -> None:
    entries = [
        *_dir_entries("var/lib/rpm"),
        file_entry("var/lib/rpm/Packages", (dbs / "bdb-subset/Packages").read_bytes()),
        *_dir_entries("usr/lib/sysimage/rpm"),
        file_entry("usr/lib/sysimage/rpm/rpmdb.sqlite", (dbs / "sqlite/rpmdb.sqlite").read_bytes()),
    ]
    if macros is not None:
        entries += [dir_entry("usr/lib/rpm"), file_entry("usr/lib/rpm/macros", macros)]
    rpms = catalog(_image(tmp_path, [entries]), settings, analyzers=["rpm"]).inventory.packages
    assert {p.path for p in rpms} == {expected_path}
    assert len(rpms) == (5 if expected_path.endswith("Packages") else 47)


def test_macro_parsing() -> None:
    assert parse_macros("%_dbpath\t\t%{_var}/lib/rpm\n%_db_backend\t      sqlite\n") == {
        "_dbpath": "/var/lib/rpm",
        "_db_backend": "sqlite",
    }
    # A shell escape (Debian's own rpm) is not something we can evaluate: no guess.
    assert parse_macros("%_dbpath\t%(bash -c 'echo ~/.rpmdb')\n") == {}
    assert parse_macros("%_dbpath\t%{_unknown}/rpm\n") == {}
    real = Path("/usr/lib/rpm/macros")
    if real.exists():
        assert "_dbpath" not in parse_macros(real.read_text())  # Debian: %(bash ...) above


# ---------------------------------------------------------------------------- hostile input


def _real_blob(dbs: Path) -> bytes:
    return sqlite_rows(dbs / "sqlite/rpmdb.sqlite")[0][1]


def sqlite_rows(db: Path) -> list[tuple[int, bytes]]:
    return list(iter_sqlite_blobs(db.read_bytes()))


def test_truncated_headers_are_value_errors(dbs: Path) -> None:
    blob = _real_blob(dbs)
    assert package_from_header(Header(blob), "x") is not None
    for cut in range(len(blob)):
        with pytest.raises(ValueError, match="rpm header"):
            Header(blob[:cut])


def test_header_claiming_more_than_it_has(dbs: Path) -> None:
    blob = bytearray(_real_blob(dbs))
    il, dl = struct.unpack_from(">II", blob)
    with pytest.raises(ValueError, match="claims"):
        Header(struct.pack(">II", il + 1000, dl) + bytes(blob[8:]))
    with pytest.raises(ValueError, match="entries"):
        Header(struct.pack(">II", 0x7FFFFFFF, dl) + bytes(blob[8:]))
    # An entry pointing past the data store.
    bad = bytearray(blob)
    struct.pack_into(">i", bad, 8 + 16 * 1 + 8, dl + 64)
    with pytest.raises(ValueError, match="outside"):
        Header(bytes(bad))
    # A NAME string with its terminator overwritten up to the end of the store.
    h = Header(bytes(blob))
    assert h.string(1000)
    name_entry = next(i for i in range(il) if struct.unpack_from(">I", blob, 8 + 16 * i)[0] == 1000)
    off = struct.unpack_from(">i", blob, 8 + 16 * name_entry + 8)[0]
    start = 8 + 16 * il + off
    unterminated = bytes(blob[:start]) + b"A" * (len(blob) - start)
    with pytest.raises(ValueError, match="NUL"):
        Header(unterminated).string(1000)


def test_fuzzed_headers_only_raise_value_error(dbs: Path) -> None:
    blob = _real_blob(dbs)
    rng = random.Random(1234)
    parsed = failed = 0
    for _ in range(3000):
        b = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            package_from_header(Header(bytes(b)), "x")
            parsed += 1
        except ValueError:
            failed += 1
    assert parsed and failed  # both outcomes happen; nothing else escapes


def _page_of_type(data: bytes, pagesize: int, order: str, types: tuple[int, ...], chained: bool) -> int:
    for pgno in range(1, len(data) // pagesize):
        page = data[pgno * pagesize : (pgno + 1) * pagesize]
        nxt = struct.unpack_from(order + "I", page, 16)[0]
        if page[25] in types and (nxt != 0) == chained:
            return pgno
    raise AssertionError("no such page in the fixture")


@pytest.mark.parametrize(
    ("variant", "types", "pagesize", "message"),
    [
        ("bdb-le-16k", (2, 13), 16384, "bucket chain loops"),
        ("bdb-be-512", (7,), 512, "overflow chain loops"),
    ],
)
def test_berkeleydb_page_loops_are_caught(
    dbs: Path, variant: str, types: tuple[int, ...], pagesize: int, message: str
) -> None:
    order = BDB_VARIANTS[variant][1]
    data = bytearray((dbs / variant / "Packages").read_bytes())
    pgno = _page_of_type(bytes(data), pagesize, order, types, chained=True)
    struct.pack_into(order + "I", data, pgno * pagesize + 16, pgno)  # next page = itself
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=message):
        analyze("var/lib/rpm/Packages", bytes(data))
    assert time.monotonic() - t0 < 5


def test_damaged_berkeleydb_files(dbs: Path) -> None:
    data = (dbs / "bdb-le-4k" / "Packages").read_bytes()
    with pytest.raises(ValueError, match="truncated"):
        analyze("var/lib/rpm/Packages", data[: len(data) // 2])
    with pytest.raises(ValueError, match="magic"):
        analyze("var/lib/rpm/Packages", random.Random(5).randbytes(8192))
    rng = random.Random(99)
    outcomes = set()
    for _ in range(300):
        b = bytearray(data)
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            analyze("var/lib/rpm/Packages", bytes(b))
            outcomes.add("ok")
        except ValueError:
            outcomes.add("error")
    assert outcomes == {"ok", "error"}


def test_damaged_ndb_files(dbs: Path) -> None:
    data = (dbs / "ndb" / "Packages.db").read_bytes()
    with pytest.raises(ValueError, match="slot pages do not fit"):
        analyze("var/lib/rpm/Packages.db", data[:96])
    with pytest.raises(ValueError, match="points at blocks"):  # blobs cut off, slots intact
        analyze("var/lib/rpm/Packages.db", data[:4096])
    with pytest.raises(ValueError, match="not a multiple"):
        analyze("var/lib/rpm/Packages.db", data[:-1])
    bad = bytearray(data)
    # First used slot: make it point past the end of the file.
    off = next(o for o in range(32, 4096, 16) if struct.unpack_from("<I", bad, o + 8)[0])
    struct.pack_into("<I", bad, off + 8, len(data) // 16)
    with pytest.raises(ValueError, match="points at blocks"):
        analyze("var/lib/rpm/Packages.db", bytes(bad))
    bad = bytearray(data)
    blkoff = struct.unpack_from("<I", bad, off + 8)[0]
    bad[blkoff * 16 : blkoff * 16 + 4] = b"XXXX"
    with pytest.raises(ValueError, match="does not point at its blob"):
        analyze("var/lib/rpm/Packages.db", bytes(bad))
    with pytest.raises(ValueError, match="bad magic"):
        analyze("var/lib/rpm/Packages.db", random.Random(3).randbytes(8192))


def test_hostile_sqlite(tmp_path: Path, dbs: Path) -> None:
    with pytest.raises(ValueError, match="not an SQLite"):
        analyze("var/lib/rpm/rpmdb.sqlite", random.Random(1).randbytes(4096))
    with pytest.raises(ValueError, match=r"rpmdb\.sqlite"):
        analyze("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + random.Random(2).randbytes(8192))
    # Packages as an endless recursive view: refused by its kind, before it runs.
    view = tmp_path / "view.sqlite"
    conn = sqlite3.connect(view)
    conn.execute(
        "CREATE VIEW Packages AS WITH RECURSIVE r(hnum, blob) AS "
        "(SELECT 1, x'00' UNION ALL SELECT hnum + 1, blob FROM r) SELECT hnum, blob FROM r"
    )
    conn.commit()
    conn.close()
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="not a table"):
        analyze("var/lib/rpm/rpmdb.sqlite", view.read_bytes())
    assert time.monotonic() - t0 < 5
    # One damaged header among good ones: the good ones are kept, the bad one becomes a note.
    mixed = tmp_path / "mixed.sqlite"
    good = sqlite_rows(dbs / "sqlite/rpmdb.sqlite")[:3]
    conn = sqlite3.connect(mixed)
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    conn.executemany("INSERT INTO Packages VALUES (?, ?)", [*good, (99, good[0][1][:50])])
    conn.commit()
    conn.close()
    data = mixed.read_bytes()
    res = ANALYZER.analyze(FileInfo("var/lib/rpm/rpmdb.sqlite", "file", len(data)), BytesBlob(data))
    assert res is not None
    assert [p.name for p in res.packages] == [Header(b).string(1000) for _, b in good]
    assert [n.data["message"] for n in res.notes if n.kind == "header-error"] == [
        "rpm: /var/lib/rpm/rpmdb.sqlite: package #99: rpm header: claims "
        + f"{struct.unpack_from('>I', good[0][1])[0]} entries and {struct.unpack_from('>I', good[0][1], 4)[0]} "
        + f"data bytes ({len(good[0][1])} bytes) but the blob has 50"
    ]


def test_garbage_database_in_image_is_a_warning(tmp_path: Path, dbs: Path) -> None:
    lenient = Settings(cache_dir=tmp_path / "cache", strict_analyzers=False)
    entries = [
        *_dir_entries("var/lib/rpm"),
        file_entry("var/lib/rpm/rpmdb.sqlite", random.Random(7).randbytes(20000)),
        *_dir_entries("usr/lib/sysimage/rpm"),
        file_entry("usr/lib/sysimage/rpm/Packages.db", b"RpmP" + bytes(28) + random.Random(8).randbytes(4096)),
    ]
    inv = catalog(_image(tmp_path, [entries]), lenient, analyzers=["rpm"]).inventory
    assert inv.packages == ()
    assert any("rpm: cannot parse /var/lib/rpm/rpmdb.sqlite" in w for w in inv.warnings), inv.warnings
    assert any("rpm: cannot parse /usr/lib/sysimage/rpm/Packages.db" in w for w in inv.warnings), inv.warnings


def test_install_time_entries_replace_region_entries(dbs: Path) -> None:
    """rpm lets entries after the immutable region (added at install) override same-tag ones."""
    blob = _real_blob(dbs)
    h = Header(blob)
    assert h.string(1004) == f"{h.string(1000)} test package"  # SUMMARY, an I18NSTRING
    il, dl = struct.unpack_from(">II", blob)
    extra = b"renamed\0"
    entry = struct.pack(">IIiI", 1000, 6, dl, 1)  # NAME, STRING, at the end of the old store
    patched = struct.pack(">II", il + 1, dl + len(extra)) + blob[8 : 8 + 16 * il] + entry + blob[8 + 16 * il :] + extra
    assert Header(patched).string(1000) == "renamed"
    assert Header(patched).string(1001) == h.string(1001)
