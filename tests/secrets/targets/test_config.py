"""`customhouse config PATH` reports secrets in the documents it parses: Kubernetes Secrets (base64
`data` decoded), env values of manifests, compose files and Dockerfiles."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from customhouse.misconfig.runner import scan_tree
from tests.helpers import run_cli
from tests.secrets.targets.conftest import cli, token

K8S, ENV, COMPOSE, COMPOSE_LIST, DOCKERFILE = token(21), token(22), token(23), token(24), token(25)


def _tree(root: Path) -> Path:
    root.mkdir(parents=True)
    b64 = base64.b64encode(f"GITHUB_TOKEN={K8S}\n".encode()).decode()
    (root / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci\n  namespace: build\ntype: Opaque\n"
        f"data:\n  placeholder: {base64.b64encode(b'not a secret').decode()}\n  env: {b64}\n"
    )
    (root / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - name: web\n        image: nginx:1.27\n        env:\n"
        f"        - name: GITHUB_TOKEN\n          value: {ENV}\n"
    )
    (root / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1.27\n    environment:\n"
        f"      GITHUB_TOKEN: {COMPOSE}\n  worker:\n    image: nginx:1.27\n    environment:\n"
        f"      - GITHUB_TOKEN={COMPOSE_LIST}\n"
    )
    (root / "Dockerfile").write_text(f"FROM alpine:3.20\nENV GH_TOKEN={DOCKERFILE}\nUSER 1000\n")
    return root


def test_config_reports_secrets_in_every_document(tmp_path: Path, cli_cache: Path) -> None:
    root = _tree(tmp_path / "tree")
    run = cli("config", str(root), "-f", "json", cache=cli_cache)
    assert run.code == 0, run.err
    for raw in (K8S, ENV, COMPOSE, COMPOSE_LIST, DOCKERFILE):
        assert raw not in run.out
    secrets = [f for f in json.loads(run.out)["findings"] if f["kind"] == "secret"]
    where = sorted((f["location"]["path"], f["location"]["line"], f["id"]) for f in secrets)
    assert where == [
        ("Dockerfile", 2, "github-pat"),
        ("deploy.yaml", 13, "github-pat"),
        ("docker-compose.yml", 5, "github-pat"),
        ("docker-compose.yml", 9, "github-pat"),
        ("secret.yaml", 9, "github-pat"),
    ]
    k8s = next(f for f in secrets if f["location"]["path"] == "secret.yaml")
    assert k8s["secret"]["origin"] == "k8s-secret"
    assert k8s["location"]["json_path"] == "$.data.env"
    assert (k8s["location"]["resource_kind"], k8s["location"]["resource_namespace"]) == ("Secret", "build")
    assert k8s["location"]["resource_name"] == "ci"
    assert "base64-decoded" in k8s["message"]
    # The base64 text itself is not printed either (nor reported again by a generic rule).
    assert base64.b64encode(f"GITHUB_TOKEN={K8S}\n".encode()).decode() not in run.out


def test_secret_pass_can_be_turned_off(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    on = scan_tree(root)
    off = scan_tree(root, secrets=False)
    assert {f.kind for f in on.findings} == {"secret", "misconfiguration"}
    assert {f.kind for f in off.findings} == {"misconfiguration"}
    assert [f for f in on.findings if f.kind != "secret"] == off.findings


def test_inline_ignore_comment_applies_to_secrets(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "Dockerfile").write_text(
        f"FROM alpine:3.20\n# customhouse:ignore=github-pat revoked in 2024\nENV GH_TOKEN={DOCKERFILE}\nUSER 1000\n"
    )
    found = [f for f in scan_tree(root).findings if f.kind == "secret"]
    assert len(found) == 1 and found[0].suppressed is not None and found[0].suppressed.source == "inline"


def test_config_keeps_the_compiled_rules_in_its_cache_dir_option(tmp_path: Path) -> None:
    """`--cache-dir` wins over $CUSTOMHOUSE_CACHE_DIR for the secret pass too (its Hyperscan
    database and parsed rules), as for everything else the command caches."""
    root = _tree(tmp_path / "tree")
    chosen, env_dir = tmp_path / "chosen", tmp_path / "from-env"
    run = run_cli("config", str(root), "-f", "json", "--cache-dir", str(chosen), cache_dir=env_dir)
    assert run.code == 0, run.err
    assert any(f["kind"] == "secret" for f in json.loads(run.out)["findings"])
    assert list((chosen / "secrets").glob("hyperscan-*.db")) and list((chosen / "secrets").glob("rules-*.json"))
    assert not (env_dir / "secrets").exists()


def test_fs_reports_manifests_as_config_does(tmp_path: Path, cli_cache: Path) -> None:
    """`customhouse fs` routes Kubernetes manifests through the same code as `config`: the
    Secret's base64 `data` is decoded (a plain scan of the text finds nothing there)."""
    root = _tree(tmp_path / "tree")

    def secrets(*args: str) -> list[tuple[str, int, str, str, str, str]]:
        run = cli(*args, str(root), "-f", "json", cache=cli_cache)
        assert run.code == 0, run.err
        found = [f for f in json.loads(run.out)["findings"] if f["kind"] == "secret"]
        return sorted(
            (
                f["location"]["path"],
                f["location"]["line"],
                f["id"],
                f["fingerprint"],
                f["secret"]["origin"],
                f["message"],
            )
            for f in found
        )

    via_fs, via_config = secrets("fs"), secrets("config")
    assert via_fs == via_config
    assert [(p, line, o) for p, line, _, _, o, _ in via_fs if p == "secret.yaml"] == [("secret.yaml", 9, "k8s-secret")]
    assert len(via_fs) == 5


def test_secret_values_are_scanned_whatever_their_key_is_called(tmp_path: Path) -> None:
    """Binary-looking names skip files unopened, never values: a Secret key `cred.o` or
    `backup.gz` names text that was decoded and sniffed already."""
    root = tmp_path / "tree"
    root.mkdir()
    values = {"cred.o": token(26), "backup.gz": token(27)}
    data = "".join(f"  {k}: {base64.b64encode(f'GITHUB_TOKEN={v}'.encode()).decode()}\n" for k, v in values.items())
    (root / "secret.yaml").write_text(f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci\ndata:\n{data}")
    res = scan_tree(root, misconfig=False, jobs=1, cache_dir=tmp_path / "cache")
    paths = sorted(f.location.json_path for f in res.findings if f.kind == "secret")
    assert paths == ["$.data['backup.gz']", "$.data['cred.o']"]
