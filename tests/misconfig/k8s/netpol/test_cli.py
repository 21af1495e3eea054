"""`customhouse netpol [PATH]` run as a user would: JSON parsed, dot parsed (and drawn by
Graphviz when it is installed), the table read, exit codes and errors as CONVENTIONS.md says."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.helpers import assert_one_line_error, run_cli

from .util import deploy, manifests

POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: prod}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: pg}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typo, namespace: prod}
spec:
  # customhouse:ignore=CH-K8S-NP-004 kept for the migration, see TICKET-12
  podSelector: {matchLabels: {app: wbe}}
"""


def tree(root: Path) -> Path:
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "web.yaml").write_text(deploy("web"))
    (root / "apps" / "db.yaml").write_text(deploy("db", ports=[("pg", 5432, "TCP")]))
    (root / "policies.yaml").write_text(POLICIES)
    (root / "README.md").write_text("# not a manifest\n")
    (root / "values.yaml").write_text("replicas: 3\n")  # YAML but not Kubernetes
    return root


def netpol(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    r = run_cli("netpol", *args, cwd=cwd)
    return r.code, r.out, r.err


def test_json_matrix_and_findings(tmp_path: Path) -> None:
    code, out, err = netpol(str(tree(tmp_path / "t")), "-f", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema_version"] == "1.0"
    assert [w["id"] for w in data["workloads"]] == ["Deployment/prod/db", "Deployment/prod/web"]
    assert {w["id"]: w["file"] for w in data["workloads"]} == {
        "Deployment/prod/db": "apps/db.yaml",
        "Deployment/prod/web": "apps/web.yaml",
    }
    cells = {(c["from"], c["to"]): c for c in data["connections"]}
    assert set(cells) == {
        ("Deployment/prod/web", "Deployment/prod/db"),
        ("Deployment/prod/db", "external"),
        ("Deployment/prod/web", "external"),
        ("external", "Deployment/prod/web"),
    }
    assert cells[("Deployment/prod/web", "Deployment/prod/db")]["ports"] == [
        {"protocol": "TCP", "from": 5432, "to": 5432}
    ]
    inbound = cells[("external", "Deployment/prod/web")]
    assert inbound["address_summary"] == "0.0.0.0/0 except 10.0.0.0/8"
    assert inbound["ports"] == [{"protocol": "TCP", "from": 443, "to": 443}]
    assert cells[("Deployment/prod/db", "external")]["ports"] == "all"
    by_id = {f["id"]: f for f in data["findings"]}
    assert set(by_id) == {"CH-K8S-NP-001", "CH-K8S-NP-004"}
    assert by_id["CH-K8S-NP-001"]["location"]["path"] == "apps/web.yaml"
    # The inline comment above the podSelector suppresses the finding in its own file.
    sup = by_id["CH-K8S-NP-004"]["suppressed"]
    assert sup["source"] == "inline" and "TICKET-12" in sup["reason"]
    assert data["findings_summary"]["total"] == 1 and data["findings_summary"]["suppressed"] == 1
    assert data["summary"]["workloads"] == 2 and data["summary"]["policies"] == 3


def test_fail_on_gates_on_unsuppressed_findings(tmp_path: Path) -> None:
    root = str(tree(tmp_path / "t"))
    assert netpol(root, "-f", "json", "--fail-on", "medium")[0] == 1
    assert netpol(root, "-f", "json", "--fail-on", "high")[0] == 0
    # The suppressed low finding does not count.
    code, out, _ = netpol(root, "-f", "json", "--fail-on", "low", "--severity", "low")
    assert code == 0 and [f["id"] for f in json.loads(out)["findings"]] == ["CH-K8S-NP-004"]


DOT_NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(?:, shape=\w+)?\];$')
DOT_EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label="((?:[^"\\]|\\.)*)"\];$')


def parse_dot(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]], list[str]]:
    """Nodes (id -> label), edges and cluster labels of our dot output; any other line fails."""
    lines = text.strip().splitlines()
    assert lines[0] == "digraph netpol {" and lines[-1] == "}"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    clusters: list[str] = []
    depth = 1
    for line in lines[1:-1]:
        s = line.strip()
        if m := DOT_EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3).replace("\\n", "\n")))
        elif m := DOT_NODE.match(line):
            nodes[m.group(1)] = m.group(2)
        elif s.startswith("subgraph cluster_") and s.endswith("{"):
            depth += 1
        elif s == "}":
            depth -= 1
        elif s.startswith("label=") and depth == 2:
            clusters.append(s[len('label="') : -2])
        elif re.match(r"^(graph|node|edge) \[.*\];$", s):
            continue
        else:
            raise AssertionError(f"unexpected dot line: {line!r}")
    assert depth == 1
    return nodes, edges, clusters


def test_dot_output_is_a_graph_of_the_same_connections(tmp_path: Path) -> None:
    root = str(tree(tmp_path / "t"))
    code, out, err = netpol(root, "-f", "dot")
    assert code == 0, err
    nodes, edges, clusters = parse_dot(out)
    assert clusters == ["namespace prod"]
    assert sorted(nodes.values()) == ["Deployment/db", "Deployment/web", "external (outside the cluster)"]
    assert all(a in nodes and b in nodes for a, b, _ in edges)
    named = {(nodes[a], nodes[b]): label for a, b, label in edges}
    assert named[("Deployment/web", "Deployment/db")] == "TCP:5432"
    assert named[("external (outside the cluster)", "Deployment/web")] == "0.0.0.0/0 except 10.0.0.0/8\nTCP:443"
    data = json.loads(netpol(root, "-f", "json")[1])
    assert len(edges) == len(data["connections"])


def test_graphviz_accepts_the_dot(tmp_path: Path) -> None:
    dot = shutil.which("dot")
    assert dot is not None, "Graphviz is installed by ./scripts/setup --test (apt package graphviz)"
    out = tmp_path / "m.dot"
    code, _, err = netpol(str(tree(tmp_path / "t")), "-f", "dot", "-o", str(out))
    assert code == 0, err
    svg = subprocess.run([dot, "-Tsvg", str(out)], capture_output=True, text=True, check=False, timeout=120)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout and "Deployment/web" in svg.stdout


def test_table_shows_workloads_matrix_outside_access_and_findings(tmp_path: Path) -> None:
    code, out, err = netpol(str(tree(tmp_path / "t")))
    assert code == 0, err
    assert "Workloads under" in out
    rows = {ln.split()[0]: ln for ln in out.splitlines() if re.match(r"^\s+\d\s+Deployment/", ln)}
    assert "isolated (1 policy)" in rows["1"] and "open (no policy)" in rows["1"]
    grid = [ln.split() for ln in out.splitlines() if re.match(r"^\s+[12](\s+\S+)*\s*$", ln)]
    assert ["2", "TCP:5432"] in grid  # web (row 2) -> db (column 1)
    assert "0.0.0.0/0 except 10.0.0.0/8: TCP:443" in out
    assert "CH-K8S-NP-001" in out and "CH-K8S-NP-004" not in out  # suppressed findings are counted, not shown
    assert "1 suppressed finding" in out


def test_default_path_is_the_current_directory_and_output_file(tmp_path: Path) -> None:
    root = tree(tmp_path / "t")
    target = tmp_path / "matrix.json"
    code, out, err = netpol("-f", "json", "-o", str(target), cwd=root)
    assert code == 0, err
    assert out == ""
    assert json.loads(target.read_text())["root"] == "."


def test_unreadable_files_are_warnings_and_the_rest_is_analysed(tmp_path: Path) -> None:
    root = tree(tmp_path / "t")
    (root / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n")
    code, out, err = netpol(str(root), "-f", "json")
    assert code == 0
    assert "broken.yaml" in err and "warning" in err
    data = json.loads(out)
    assert any("broken.yaml" in w for w in data["warnings"])
    assert len(data["workloads"]) == 2


def test_exclude_and_no_manifests(tmp_path: Path) -> None:
    root = tree(tmp_path / "t")
    code, out, err = netpol(str(root), "-f", "json", "--exclude", "apps")
    assert code == 0, err
    assert json.loads(out)["workloads"] == []
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = netpol(str(empty), "-f", "json")
    assert code == 0 and "no Kubernetes manifests found" in err
    assert json.loads(out)["connections"] == []


def test_single_file_and_quiet(tmp_path: Path) -> None:
    f = tmp_path / "all.yaml"
    f.write_text(manifests(deploy("web"), deploy("db", ports=[("pg", 5432, "TCP")]), POLICIES))
    code, out, err = netpol(str(f), "-f", "json", "-q")
    assert code == 0 and err == ""
    assert {w["file"] for w in json.loads(out)["workloads"]} == {"all.yaml"}


def test_errors_follow_the_contract(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("netpol", str(tmp_path / "missing")), 3, "missing", "no such file")
    assert_one_line_error(run_cli("netpol", str(tmp_path), "--fail-on", "urgent"), 2, "--fail-on")
    r = run_cli("netpol", str(tmp_path), "-f", "svg")
    assert r.code == 2 and "invalid choice" in r.err
