"""`customhouse rbac who-can` and `customhouse rbac paths`, run as a user would (JSON parsed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, run_cli

from .test_paths import THREE_HOPS
from .util import binding, cluster_binding, cluster_role, deployment, join, role, rule, service_account


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Manifests spread over files and directories, with one file that is not valid YAML."""
    root = tmp_path / "manifests"
    (root / "rbac").mkdir(parents=True)
    (root / "apps").mkdir()
    (root / "rbac" / "escalation.yaml").write_text(THREE_HOPS)
    (root / "rbac" / "team.yaml").write_text(
        join(
            cluster_role("exec", rule("create", "pods/exec"), rule("get", "pods")),
            binding("support", "ci", "ClusterRole:exec", "group:support"),
            binding("dev-edit", "ci", "ClusterRole:edit", "user:alice"),
            cluster_binding("deployer-admin", "cluster-admin", "sa:ci/deployer"),
        )
    )
    (root / "apps" / "web.yaml").write_text(
        join(service_account("deployer", "ci"), deployment("web", "ci", sa="deployer"))
    )
    (root / "apps" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n")
    (root / "README.md").write_text("not a manifest\n")
    return root


def test_who_can_json(tree: Path) -> None:
    r = run_cli("rbac", "who-can", "create", "pods/exec", str(tree), "-f", "json")
    assert r.code == 0, r.err
    assert "broken.yaml" in r.err and "warning" in r.err
    out = json.loads(r.out)
    assert out["schema_version"] == 1
    assert out["query"]["resource"] == "pods" and out["query"]["subresource"] == "exec"
    rows = [
        (x["subject_ref"], x["scope"], x["grant"]["binding"]["ref"], x["grant"]["role"]["ref"]) for x in out["results"]
    ]
    assert rows == [
        ("Group/support", "ci", "RoleBinding/ci/support", "ClusterRole/exec"),
        ("ServiceAccount/ci/deployer", "cluster", "ClusterRoleBinding/deployer-admin", "ClusterRole/cluster-admin"),
        (
            "ServiceAccount/kube-system/kube-admin",
            "cluster",
            "ClusterRoleBinding/kube-admin",
            "ClusterRole/cluster-admin",
        ),
        ("User/alice", "ci", "RoleBinding/ci/dev-edit", "ClusterRole/edit"),
    ]
    support = out["results"][0]["grant"]
    assert support["rule"]["resources"] == ["pods/exec"]
    assert support["rule"]["location"].startswith("rbac/team.yaml:")
    assert support["binding"]["subject_location"].startswith("rbac/team.yaml:")
    assert out["results"][3]["grant"]["role"]["builtin"] is True


def test_who_can_namespace_and_group(tree: Path) -> None:
    r = run_cli("rbac", "who-can", "create", "deployments.apps", str(tree), "-n", "kube-system", "-f", "json")
    assert r.code == 0, r.err
    subjects = [x["subject_ref"] for x in json.loads(r.out)["results"]]
    assert subjects == [
        "ServiceAccount/build/builder",
        "ServiceAccount/ci/deployer",
        "ServiceAccount/kube-system/kube-admin",
    ]
    # the well-known group is filled in for a bare resource name
    bare = json.loads(
        run_cli("rbac", "who-can", "create", "deployments", str(tree), "-n", "kube-system", "-f", "json").out
    )
    assert bare["query"]["api_group"] == "apps"
    assert [x["subject_ref"] for x in bare["results"]] == subjects


def test_who_can_table_and_nobody(tree: Path) -> None:
    r = run_cli("rbac", "who-can", "get", "secrets", str(tree), "-n", "build", "-q")
    assert r.code == 0 and r.err == ""
    assert "ServiceAccount/ops/helper" in r.out and "RoleBinding/build/helper-secrets" in r.out
    assert "verbs=[get]" in r.out  # rule text is not eaten as markup
    none = run_cli("rbac", "who-can", "escalate", "clusterroles", str(tree), "-q")
    assert none.code == 0
    assert "ServiceAccount/ci/deployer" in none.out  # cluster-admin can
    assert "ServiceAccount/ci/deployer" in run_cli("rbac", "who-can", "fly", "dragons.example.com", str(tree), "-q").out


def test_who_can_nobody(tmp_path: Path) -> None:
    f = tmp_path / "one.yaml"
    f.write_text(join(role("r", "x", rule("get", "configmaps")), binding("b", "x", "Role:r", "user:solo")))
    nobody = run_cli("rbac", "who-can", "get", "secrets", str(f), "-q")
    assert nobody.code == 0 and nobody.out == "nobody can get secrets\n"


def test_paths_json(tree: Path) -> None:
    r = run_cli("rbac", "paths", str(tree), "--to", "cluster-admin", "-f", "json", "-q")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["target"] == "cluster-admin"
    by_subject = {p["subject_ref"]: p for p in out["paths"]}
    assert [(p["subject_ref"], p["length"]) for p in out["paths"]] == [
        ("ServiceAccount/ci/deployer", 0),
        ("ServiceAccount/kube-system/kube-admin", 0),
        ("Group/support", 1),
        ("ServiceAccount/build/builder", 1),
        ("User/alice", 1),
        ("ServiceAccount/ops/helper", 2),
        ("User/dev", 3),
    ]
    dev = by_subject["User/dev"]
    assert [(h["from"], h["capability"], h["to"]) for h in dev["hops"]] == [
        ("User/dev", "impersonate.sa", "ServiceAccount/ops/helper"),
        ("ServiceAccount/ops/helper", "secrets.read", "ServiceAccount/build/builder"),
        ("ServiceAccount/build/builder", "workloads.create", "ServiceAccount/kube-system/kube-admin"),
    ]
    assert dev["hops"][0]["grants"][0]["rule"]["resourceNames"] == ["helper"]
    assert dev["end"] == "ServiceAccount/kube-system/kube-admin"
    assert dev["end_grant"]["binding"]["ref"] == "ClusterRoleBinding/kube-admin"
    support = by_subject["Group/support"]
    assert support["hops"][0]["via"] == "Deployment/ci/web runs as ServiceAccount/ci/deployer"


def test_paths_from_to_and_fail_on_path(tree: Path) -> None:
    r = run_cli("rbac", "paths", str(tree), "--from", "user:dev", "--to", "sa:build/builder", "-f", "json", "-q")
    out = json.loads(r.out)
    assert out["target"] == "ServiceAccount/build/builder" and out["subjects_checked"] == 1
    [p] = out["paths"]
    assert [h["to"] for h in p["hops"]] == ["ServiceAccount/ops/helper", "ServiceAccount/build/builder"]
    assert r.code == 0
    failing = run_cli("rbac", "paths", str(tree), "--from", "user:dev", "--fail-on-path", "-q")
    assert failing.code == 1
    assert "User/dev -> cluster-admin (3 steps)" in failing.out
    clean = run_cli("rbac", "paths", str(tree), "--from", "user:nobody", "--fail-on-path", "-q")
    assert clean.code == 0 and "0 subjects with a path" in clean.out
    shallow = run_cli("rbac", "paths", str(tree), "--from", "user:dev", "--max-depth", "2", "-f", "json", "-q")
    assert json.loads(shallow.out)["paths"] == []


def test_single_file_target(tmp_path: Path) -> None:
    f = tmp_path / "one.yaml"
    f.write_text(join(role("r", "x", rule("get", "secrets")), binding("b", "x", "Role:r", "user:solo")))
    out = json.loads(run_cli("rbac", "who-can", "get", "secrets", str(f), "-f", "json").out)
    assert [x["subject_ref"] for x in out["results"]] == ["User/solo"]


def test_usage_and_input_errors(tree: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("rbac", "paths", str(tree), "--to", "sa:no-namespace"), 2, "--to")
    assert_one_line_error(run_cli("rbac", "paths", str(tree), "--max-depth", "0"), 2, "--max-depth")
    assert_one_line_error(run_cli("rbac", "who-can", "get", "secrets", str(tmp_path / "missing")), 3, "missing")
    bad = run_cli("rbac", "who-can", "get")
    assert bad.code == 2
    helped = run_cli("rbac", "--help")
    assert helped.code == 0 and "who-can" in helped.out and "paths" in helped.out


def test_exclude(tree: Path) -> None:
    r = run_cli("rbac", "paths", str(tree), "--exclude", "rbac/escalation.yaml", "-f", "json", "-q")
    subjects = {p["subject_ref"] for p in json.loads(r.out)["paths"]}
    assert "User/dev" not in subjects and "User/alice" in subjects


def test_paths_to_a_service_account_the_tree_does_not_declare(tree: Path) -> None:
    r = run_cli("rbac", "paths", str(tree), "--from", "user:alice", "--to", "sa:ci/ghost", "-f", "json", "-q")
    [p] = json.loads(r.out)["paths"]
    assert [(h["capability"], h["to"]) for h in p["hops"]] == [("pods.create", "ServiceAccount/ci/ghost")]
