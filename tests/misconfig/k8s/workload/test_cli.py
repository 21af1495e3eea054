"""`customhouse k8s PATH` end to end, and what bad input costs (a warning, never a crash).

The command reads only Kubernetes manifests, runs the per-file and the tree-level checks, counts
objects of kinds nothing understands, and reports invalid YAML with its line while the rest of the
tree is still scanned. Exit codes and flags follow `customhouse config`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customhouse.cli import run
from customhouse.misconfig.engine import Document, Options, checks_for
from customhouse.misconfig.k8s.objects import tree_document
from customhouse.misconfig.k8s.posture_cli import add_pss_options, pss_extra, scan_k8s
from customhouse.misconfig.yamlsrc import LocatedDoc

from ..pss.util import HARDENED, deployment

PRIVILEGED = deployment(after={"allowPrivilegeEscalation: false": "privileged: true"})


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def k8s(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(["k8s", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report_names_the_upstream_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"deploy/web.yaml": PRIVILEGED})
    code, out, _ = k8s(capsys, str(tmp_path), "-f", "json", "--fail-on", "critical", "-q")
    assert code == 1
    report = json.loads(out)
    priv = [f for f in report["findings"] if f["id"] == "CH-K8S-PSS-003"]
    assert len(priv) == 1
    f = priv[0]
    assert f["misconfiguration"]["extra"]["pss_check"] == "privileged"
    assert f["misconfiguration"]["extra"]["pss_level"] == "baseline"
    assert f["location"]["path"] == "deploy/web.yaml"
    assert f["location"]["json_path"].endswith("securityContext.privileged")
    assert f["misconfiguration"]["replacement"].strip() == "privileged: false"
    # tree-level findings are reported too, in the file of their object
    assert any(x["id"] == "CH-K8S-016" and x["location"]["path"] == "deploy/web.yaml" for x in report["findings"])


def test_level_and_version_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = deployment(
        replace={"runAsNonRoot: true": "runAsUser: 0"}, after={"allowPrivilegeEscalation: false": "privileged: true"}
    )
    write(tmp_path, {"d.yaml": text})

    def pss_ids(*flags: str) -> set[str]:
        code, out, _ = k8s(capsys, str(tmp_path), "-f", "json", "-q", *flags)
        assert code == 0
        return {f["id"] for f in json.loads(out)["findings"] if f["id"].startswith("CH-K8S-PSS")}

    assert pss_ids() == {"CH-K8S-PSS-003", "CH-K8S-PSS-015", "CH-K8S-PSS-016"}
    assert pss_ids("--pss-level", "baseline") == {"CH-K8S-PSS-003"}
    assert pss_ids("--pss-level", "privileged") == set()
    assert pss_ids("--pss-version", "v1.22") == {"CH-K8S-PSS-003", "CH-K8S-PSS-015"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--pss-version", "v1.99"], "argument --pss-version: 'v1.99' is not a Pod Security Standards version"),
        (["--pss-level", "strict"], "argument --pss-level: 'strict' is not a level"),
        (["--skip-check", "CH-K8S-PSS-999"], "unknown check id CH-K8S-PSS-999"),
        (["--fail-on", "severe"], "--fail-on"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    write(tmp_path, {"d.yaml": HARDENED})
    try:
        code = run(["k8s", str(tmp_path), *flags])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_skip_check_and_severity_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"d.yaml": PRIVILEGED})
    _, out, _ = k8s(capsys, str(tmp_path), "-f", "json", "-q", "--skip-check", "ch-k8s-pss-003,CH-K8S-016")
    found = {f["id"] for f in json.loads(out)["findings"]}
    assert "CH-K8S-PSS-003" not in found and "CH-K8S-016" not in found
    _, out, _ = k8s(capsys, str(tmp_path), "-f", "json", "-q", "--severity", "critical")
    assert {f["id"] for f in json.loads(out)["findings"]} == {"CH-K8S-PSS-003"}


def test_unknown_kinds_are_counted_and_invalid_yaml_does_not_stop_the_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path,
        {
            "good.yaml": PRIVILEGED,
            "crds.yaml": "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: a}\n---\n"
            "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: b}\n---\n"
            "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: typo}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: known}\n",
            "broken.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: [\n",
            "Dockerfile": "FROM ubuntu\nUSER root\n",
            "docker-compose.yml": "services:\n  web:\n    image: nginx\n    privileged: true\n",
        },
    )
    code, out, err = k8s(capsys, str(tmp_path), "-f", "json")
    assert code == 0
    report = json.loads(out)
    assert "3 objects of unknown kinds skipped (Certificate, Deploymnet)" in err
    assert any(w.startswith("broken.yaml:7: invalid YAML") for w in report["warnings"])
    assert "broken.yaml:7: invalid YAML" in err
    paths = {f["location"]["path"] for f in report["findings"]}
    assert paths == {"good.yaml"}  # no Dockerfile or compose findings: this command reads manifests only
    assert {f["misconfiguration"]["file_type"] for f in report["findings"]} <= {"kubernetes", "kubernetes-tree"}


def test_scan_k8s_counts(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"a.yaml": PRIVILEGED, "b.json": json.dumps({"apiVersion": "example.com/v1", "kind": "Widget"}, indent=1)},
    )
    result = scan_k8s(tmp_path, Options())
    assert (result.scanned, result.skipped, result.objects) == (2, 0, 2)
    assert dict(result.unknown_kinds) == {"Widget": 1}
    assert result.evaluated["a.yaml"] and all(cid.startswith("CH-K8S") for cid, _ in result.evaluated["a.yaml"])


def test_custom_resources_with_pod_templates_are_not_unknown(tmp_path: Path) -> None:
    rollout = PRIVILEGED.replace(
        "apiVersion: apps/v1\nkind: Deployment", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout"
    )
    write(tmp_path, {"r.yaml": rollout})
    result = scan_k8s(tmp_path, Options())
    assert not result.unknown_kinds
    assert any(f.id == "CH-K8S-PSS-003" and f.location.resource_kind == "Rollout" for f in result.findings)


def test_single_file_that_is_not_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("replicaCount: 2\nimage: nginx\n")
    code, _, err = k8s(capsys, str(f))
    assert code == 3 and "not a Kubernetes manifest" in err
    code, _, err = k8s(capsys, str(tmp_path / "missing"))
    assert code == 3 and "no such file" in err


def test_empty_tree_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = k8s(capsys, str(tmp_path))
    assert code == 0 and "no Kubernetes manifests found" in err


def test_exclude(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"charts/tests/p.yaml": PRIVILEGED, "d.yaml": HARDENED})
    _, out, _ = k8s(capsys, str(tmp_path), "-f", "json", "-q", "--exclude", "charts/tests")
    assert {f["location"]["path"] for f in json.loads(out)["findings"]} == {"d.yaml"}


def test_pss_options_for_other_commands() -> None:
    p = argparse.ArgumentParser()
    add_pss_options(p)
    assert pss_extra(p.parse_args([])) == {"pss_level": "restricted", "pss_version": "latest"}
    assert pss_extra(p.parse_args(["--pss-level", "Baseline", "--pss-version", "1.25"])) == {
        "pss_level": "baseline",
        "pss_version": "v1.25",
    }
    assert pss_extra(argparse.Namespace()) == {"pss_level": "restricted", "pss_version": "latest"}


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\nfrom customhouse.cli import build_parser\nbuild_parser()\n"
        "heavy = [m for m in ('yaml', 'customhouse.misconfig.k8s.pss', 'customhouse.misconfig.engine') "
        "if m in sys.modules]\nprint(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ shapes the checks were not written for

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=8))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "securityContext",
                    "containers",
                    "initContainers",
                    "capabilities",
                    "add",
                    "drop",
                    "volumes",
                    "hostPath",
                    "path",
                    "ports",
                    "hostPort",
                    "env",
                    "name",
                    "value",
                    "image",
                    "resources",
                    "limits",
                    "requests",
                    "livenessProbe",
                    "httpGet",
                    "host",
                    "seccompProfile",
                    "type",
                    "sysctls",
                    "os",
                    "hostUsers",
                    "runAsNonRoot",
                    "runAsUser",
                    "metadata",
                    "annotations",
                    "labels",
                    "spec",
                    "template",
                    "selector",
                    "podSelector",
                    "ingress",
                    "policyTypes",
                    "tls",
                    "rules",
                    "data",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(
        [
            "Pod",
            "Deployment",
            "CronJob",
            "Service",
            "Ingress",
            "ConfigMap",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "RoleBinding",
            "LimitRange",
            "Rollout",
        ]
    ),
    spec=_values,
    meta=_values,
)
def test_no_check_crashes_on_any_shape(kind: str, spec: Any, meta: Any) -> None:
    data = {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec, "data": spec, "subjects": spec}
    doc = Document(path="x.yaml", file_type="kubernetes", text="", data=[LocatedDoc(data, 0, 1, {})])
    for level in ("baseline", "restricted"):
        opts = Options(extra={"pss_level": level, "pss_version": "v1.24"}, registry_allowlist=("r.example.com",))
        for c in checks_for("kubernetes"):
            for v in c.run(doc, opts):
                assert v.message
        tree = tree_document(".", [doc])
        for c in checks_for("kubernetes-tree"):
            if c.meta.id.startswith("CH-K8S-0"):
                for v in c.run(tree, opts):
                    assert v.message
