"""`customhouse image --scanners secret`: every layer (deleted and overwritten files too), the
image configuration, redaction everywhere, the layer cache, the ignore file."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

from tests.secrets.targets.conftest import SecretImage, cli


def _scan(img: SecretImage, cache: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    run = cli("image", f"docker-archive:{img.archive}", "--scanners", "secret", "-f", "json", *extra, cache=cache)
    assert run.code in (0, 1), run.err
    assert "Traceback" not in run.err
    return run.code, run.out, json.loads(run.out)


def _raw(img: SecretImage) -> list[str]:
    return [img.deleted, img.overwritten, img.kept, img.env, img.history, img.label]


def _secrets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["kind"] == "secret"]


def test_deleted_file_names_the_layer_that_added_it_and_the_one_that_removed_it(
    secret_image: SecretImage, cli_cache: Path
) -> None:
    _, _, doc = _scan(secret_image, cli_cache)
    by_path = {(f["location"]["path"], f["id"]): f for f in _secrets(doc)}
    f = by_path[("srv/app/.env", "github-pat")]
    assert f["severity"] == "critical"
    assert f["location"]["layer_index"] == 1 and f["location"]["line"] == 2 and f["location"]["column"] == 14
    assert f["location"]["layer_digest"] == doc["inventory"]["layers"][1]["diff_id"]
    assert f["location"]["created_by"].startswith("RUN /bin/sh -c echo GH=")
    d = f["secret"]
    assert (d["origin"], d["added_in_layer"], d["removed_in_layer"], d["removal"]) == ("layer-file", 1, 2, "whiteout")
    assert d["removed_by"].startswith("RUN /bin/sh -c rm /srv/app/.env")
    assert "deleted in layer 3" in f["message"] and "still extractable from layer 2" in f["message"]
    assert d["validated"] is True and d["secret"].startswith("ghp_…")


def test_overwritten_file_is_scanned_in_its_own_layer(secret_image: SecretImage, cli_cache: Path) -> None:
    _, _, doc = _scan(secret_image, cli_cache)
    found = [f for f in _secrets(doc) if f["location"]["path"] == "etc/app/config.ini"]
    assert len(found) == 1  # the placeholder in the layer that overwrote it is no secret
    d = found[0]["secret"]
    assert (d["added_in_layer"], d["removed_in_layer"], d["removal"]) == (1, 2, "overwritten")
    assert "overwritten in layer 3" in found[0]["message"]


def test_surviving_file_and_bad_entries(secret_image: SecretImage, cli_cache: Path) -> None:
    _, _, doc = _scan(secret_image, cli_cache)
    kept = {f["location"]["path"]: f for f in _secrets(doc) if f["location"]["layer_index"] == 2}
    # A FIFO, character and block devices and a binary file in the layer: skipped, no warning, no crash;
    # invalid UTF-8 around a token is scanned.
    assert set(kept) == {"srv/app/notes.txt", "srv/app/latin1.txt"}
    assert all(f["secret"]["removed_in_layer"] == -1 and f["secret"]["removal"] == "" for f in kept.values())
    assert all(f["id"] == "github-app-token" or f["id"].startswith("github") for f in kept.values())
    assert not [w for w in doc["warnings"] if "pipe" in w or "null" in w or "disk" in w]


def test_env_labels_and_history(secret_image: SecretImage, cli_cache: Path) -> None:
    _, _, doc = _scan(secret_image, cli_cache)
    by_jp = {f["location"]["json_path"]: f for f in _secrets(doc) if f["location"]["json_path"]}
    assert by_jp["$.config.Env[1]"]["secret"]["origin"] == "image-env"
    assert by_jp['$.config.Labels["org.example.ci-token"]']["secret"]["origin"] == "image-label"
    assert by_jp["$.history[1].created_by"]["secret"]["origin"] == "image-history"  # the ARG step
    assert by_jp["$.history[2].created_by"]["secret"]["origin"] == "image-history"  # the RUN line
    assert by_jp["$.config.Env[1]"]["location"]["path"] == ""
    # The ARG and the RUN line carry the same secret: one fingerprint, two places.
    assert by_jp["$.history[1].created_by"]["fingerprint"] == by_jp["$.history[2].created_by"]["fingerprint"]


def test_raw_secrets_never_reach_any_report(secret_image: SecretImage, cli_cache: Path) -> None:
    _, out, doc = _scan(secret_image, cli_cache)
    assert len(_secrets(doc)) >= 8
    for raw in _raw(secret_image):
        assert raw not in out
    # The history entry is also printed as the layer's created_by: redacted there too.
    assert "GH=ghp_…" in doc["inventory"]["layers"][1]["created_by"]
    for fmt in ("table", "sarif", "junit", "markdown"):
        run = cli("image", f"docker-archive:{secret_image.archive}", "--scanners", "secret", "-f", fmt, cache=cli_cache)
        assert run.code == 0, run.err
        for raw in _raw(secret_image):
            assert raw not in run.out, fmt


def test_layer_cache_holds_no_raw_secret_and_second_scan_is_identical(
    secret_image: SecretImage, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _, first, _ = _scan(secret_image, cache)
    _, second, _ = _scan(secret_image, cache)
    assert first == second
    db = sqlite3.connect(cache / "layers.db") if (cache / "layers.db").exists() else None
    if db is None:
        dbs = list(cache.rglob("*.db"))
        db = sqlite3.connect(next(p for p in dbs if "hyperscan" not in p.name))
    rows = db.execute("SELECT analyzer, data FROM layer_results").fetchall()
    assert any(name == "secrets" for name, _ in rows)
    blob = b"".join(zlib.decompress(data) for _, data in rows)
    for raw in _raw(secret_image):
        assert raw.encode() not in blob


def test_secret_scanner_alone_and_with_misconfig(secret_image: SecretImage, cli_cache: Path) -> None:
    _, out, doc = _scan(secret_image, cli_cache, "--scanners", "secret,misconfig")
    kinds = {f["kind"] for f in doc["findings"]}
    assert kinds == {"secret", "misconfiguration"}
    for raw in _raw(secret_image):
        assert raw not in out
    # Without the secret scanner nothing reads every file and no secret is reported.
    run = cli(
        "image", f"docker-archive:{secret_image.archive}", "--scanners", "misconfig", "-f", "json", cache=cli_cache
    )
    assert run.code == 0, run.err
    assert {f["kind"] for f in json.loads(run.out)["findings"]} == {"misconfiguration"}


def test_fail_on_and_ignore_file_by_fingerprint(secret_image: SecretImage, cli_cache: Path, tmp_path: Path) -> None:
    code, _, doc = _scan(secret_image, cli_cache, "--fail-on", "critical")
    assert code == 1
    env = next(f for f in _secrets(doc) if f["location"]["json_path"] == "$.config.Env[1]")
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text(f"- fingerprint: {env['fingerprint']}\n  reason: revoked test token\n")
    _, _, doc2 = _scan(secret_image, cli_cache, "--ignore-file", str(ignore))
    again = next(f for f in _secrets(doc2) if f["location"]["json_path"] == "$.config.Env[1]")
    assert again["suppressed"]["source"].startswith("ignore-file:")
    others = [f for f in _secrets(doc2) if f["fingerprint"] != env["fingerprint"]]
    assert others and all(f["suppressed"] is None for f in others)


def test_unknown_scanner_is_a_usage_error(secret_image: SecretImage, cli_cache: Path) -> None:
    run = cli("image", f"docker-archive:{secret_image.archive}", "--scanners", "secrets", cache=cli_cache)
    assert run.code == 2 and "secret" in run.err


def _table_rows(out: str) -> list[list[str]]:
    """The rows of the secrets table as their lines: a row starts with a rule id and a severity."""
    rows: list[list[str]] = []
    for line in out.splitlines():
        words = line.split()
        if len(words) > 2 and words[1] in ("critical", "high", "medium", "low", "info"):
            rows.append([line])
        elif rows and line.startswith("  ") and line.strip():
            rows[-1].append(line)
    return rows


def test_table_says_which_layer_still_holds_a_removed_secret(secret_image: SecretImage, cli_cache: Path) -> None:
    run = cli("image", f"docker-archive:{secret_image.archive}", "--scanners", "secret", "-f", "table", cache=cli_cache)
    assert run.code == 0, run.err
    rows = {next(w for w in r[0].split() if ":" in w or w.startswith("$.")): r for r in _table_rows(run.out)}
    note = "removed in layer 3, still extractable from layer 2"
    assert sorted(k for k, r in rows.items() if any(note in line for line in r)) == [
        "etc/app/config.ini:2",
        "srv/app/.env:2",
    ]
    joined = {k: " ".join(" ".join(r).split()) for k, r in rows.items()}
    assert "(deleted by RUN /bin/sh -c rm /srv/app/.env" in joined["srv/app/.env:2"]
    assert "(overwritten by RUN /bin/sh -c rm" in joined["etc/app/config.ini:2"]
    assert "in layer 3" in joined["srv/app/notes.txt:1"] and "extractable" not in joined["srv/app/notes.txt:1"]
    assert "ghp_…" in joined["$.config.Env[1]"] and "layer" not in joined["$.config.Env[1]"]  # in no layer
    for raw in _raw(secret_image):
        assert raw not in run.out
