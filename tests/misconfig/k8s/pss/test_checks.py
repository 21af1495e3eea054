"""The CH-K8S-PSS-* engine checks: findings at the right line, with the upstream check named.

Every fixture is the hardened Deployment of util.py (no finding at all) with one change; the
failing one must produce exactly the PSS check it is about, at the line holding the offending
field (or, for a missing field, the object that should hold it), and the passing one is a near
miss. Also: which checks run at which --pss-level / --pss-version, every workload kind and pod
templates found by shape, mechanical fixes that really fix, and JSON manifests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from customhouse.errors import UsageError
from customhouse.misconfig.checks.k8s_pss import pss_check_ids
from customhouse.misconfig.engine import all_checks, get_check
from customhouse.misconfig.k8s import pss
from customhouse.misconfig.yamlsrc import load_yaml_documents

from .util import HARDENED, apply_fix, deployment, extra, hits, ids, line_of, lines, options, scan

ID = pss_check_ids()
RO = "readOnlyRootFilesystem: true"
APE = "allowPrivilegeEscalation: false"
SA = "automountServiceAccountToken: false"


@dataclass(frozen=True)
class Case:
    check: str  # upstream PSS check id
    fail: str
    fail_at: str
    passing: str
    level: str = "restricted"
    version: str = "latest"
    nth: int = 1
    note: str = ""

    def __str__(self) -> str:
        return f"{self.check}{'-' + self.note if self.note else ''}"


def vol(body: str) -> str:
    return "volumes:\n  - name: data\n" + "".join(f"    {line}\n" for line in body.splitlines())


CASES = [
    Case(
        "windowsHostProcess",
        deployment(after={RO: "windowsOptions:\n  hostProcess: true"}),
        "hostProcess: true",
        deployment(after={RO: "windowsOptions:\n  hostProcess: false"}),
    ),
    Case(
        "hostNamespaces", deployment(after={SA: "hostPID: true"}), "hostPID", deployment(after={SA: "hostPID: false"})
    ),
    Case(
        "privileged",
        deployment(after={APE: "privileged: true"}),
        "privileged: true",
        deployment(after={APE: "privileged: false"}),
    ),
    Case(
        "capabilities_baseline",
        deployment(replace={"drop:": "add: [SYS_PTRACE]\ndrop:"}),
        "SYS_PTRACE",
        deployment(replace={"drop:": "add: [NET_BIND_SERVICE, CHOWN]\ndrop:"}),
        level="baseline",
    ),
    Case(
        "hostPathVolumes",
        deployment(after={SA: vol("hostPath:\n  path: /var/log")}),
        "hostPath:",
        deployment(after={SA: vol("emptyDir: {}")}),
        level="baseline",
    ),
    Case(
        "hostPorts",
        deployment(replace={"- containerPort: 8080": "- containerPort: 8080\n  hostPort: 8080"}),
        "hostPort: 8080",
        deployment(replace={"- containerPort: 8080": "- containerPort: 8080\n  hostPort: 0"}),
    ),
    Case(
        "appArmorProfile",
        deployment(after={RO: "appArmorProfile:\n  type: Unconfined"}),
        "type: Unconfined",
        deployment(after={RO: "appArmorProfile:\n  type: RuntimeDefault"}),
    ),
    Case(
        "appArmorProfile",
        deployment(
            replace={
                "labels:": "annotations:\n  container.apparmor.security.beta.kubernetes.io/app: unconfined\nlabels:"
            }
        ),
        "apparmor",
        deployment(
            replace={"labels:": "annotations:\n  container.apparmor.security.beta.kubernetes.io/app: ''\nlabels:"}
        ),
        nth=1,
        note="annotation",
    ),
    Case(
        "seLinuxOptions",
        deployment(after={RO: "seLinuxOptions:\n  type: spc_t"}),
        "type: spc_t",
        deployment(after={RO: "seLinuxOptions:\n  type: container_t\n  level: s0:c1,c2"}),
    ),
    Case(
        "procMount",
        deployment(after={RO: "procMount: Unmasked"}),
        "procMount",
        deployment(after={RO: "procMount: Unmasked", SA: "hostUsers: false"}),
        level="baseline",
    ),
    Case(
        "seccompProfile_baseline",
        deployment(replace={"type: RuntimeDefault": "type: Unconfined"}),
        "type: Unconfined",
        deployment(replace={"type: RuntimeDefault": "type: Localhost\nlocalhostProfile: profiles/app.json"}),
        level="baseline",
    ),
    Case(
        "seccompProfile_baseline",
        deployment(
            replace={"labels:": "annotations:\n  seccomp.security.alpha.kubernetes.io/pod: unconfined\nlabels:"}
        ),
        "seccomp.security",
        deployment(
            replace={"labels:": "annotations:\n  seccomp.security.alpha.kubernetes.io/pod: docker/default\nlabels:"}
        ),
        version="v1.18",
        note="annotation",
    ),
    Case(
        "sysctls",
        deployment(after={"runAsNonRoot: true": 'sysctls:\n  - name: kernel.msgmax\n    value: "65536"'}),
        "kernel.msgmax",
        deployment(after={"runAsNonRoot: true": 'sysctls:\n  - name: net.ipv4.tcp_syncookies\n    value: "1"'}),
    ),
    Case(
        "hostProbesAndHostLifecycle",
        deployment(after={"path: /healthz": "host: 169.254.169.254"}),
        "host: 169",
        deployment(replace={"path: /healthz": 'path: /healthz\nhost: ""'}),
        level="baseline",
        version="v1.34",
    ),
    Case(
        "restrictedVolumes",
        deployment(after={SA: vol("nfs:\n  server: nfs.example.com\n  path: /exports")}),
        "nfs:",
        deployment(after={SA: vol("persistentVolumeClaim:\n  claimName: data")}),
    ),
    Case(
        "allowPrivilegeEscalation",
        deployment(replace={APE: "allowPrivilegeEscalation: true"}),
        "allowPrivilegeEscalation: true",
        HARDENED,
    ),
    Case(
        "allowPrivilegeEscalation",
        deployment(replace={APE: ""}),
        "securityContext:",
        deployment(replace={APE: ""}, after={SA: "os:\n  name: windows"}),
        nth=2,
        note="missing",
    ),
    Case(
        "runAsNonRoot",
        deployment(replace={"runAsNonRoot: true": "runAsNonRoot: false"}),
        "runAsNonRoot: false",
        deployment(replace={"runAsNonRoot: true": "runAsNonRoot: false"}, after={SA: "hostUsers: false"}),
    ),
    Case(
        "runAsUser",
        deployment(after={"runAsNonRoot: true": "runAsUser: 0"}),
        "runAsUser: 0",
        deployment(after={"runAsNonRoot: true": "runAsUser: 10001"}),
    ),
    Case(
        "seccompProfile_restricted",
        deployment(replace={"type: RuntimeDefault": "type: Unconfined"}),
        "type: Unconfined",
        deployment(replace={"type: RuntimeDefault": "type: Localhost\nlocalhostProfile: p.json"}),
    ),
    Case(
        "capabilities_restricted",
        deployment(replace={"- ALL": "- NET_RAW"}),
        "drop:",
        deployment(replace={"- ALL": "- NET_RAW\n- ALL"}),
    ),
    Case(
        "procMount_restricted",
        deployment(after={RO: "procMount: Unmasked", SA: "hostUsers: false"}),
        "procMount",
        deployment(after={RO: "procMount: Default", SA: "hostUsers: false"}),
    ),
]


def _pss(findings: list) -> list:  # type: ignore[type-arg]
    return [f for f in findings if f.id.startswith("CH-K8S-PSS-")]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture(case: Case) -> None:
    found = _pss(scan(case.fail, options(case.level, case.version)))
    cid = ID[case.check]
    assert {f.id for f in found} == {cid}, [f.message for f in found]
    assert lines(found, cid) == [line_of(case.fail, case.fail_at, case.nth)]
    (f,) = found
    meta = extra(f)
    assert meta["pss_check"] == case.check
    assert meta["pss_level"] == pss.get(case.check).level
    assert meta["pss_version"] == ("v1.37" if case.version == "latest" else case.version)
    assert meta["pss_profile"] == case.level
    assert meta["pss_check_version"].startswith("v1.") and meta["pss_detail"]
    assert (f.location.resource_kind, f.location.resource_namespace, f.location.resource_name) == (
        "Deployment",
        "shop",
        "web",
    )
    assert f.location.json_path.startswith("$.spec.template.")
    assert f.message.startswith("Deployment/shop/web: ")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture(case: Case) -> None:
    assert _pss(scan(case.passing, options(case.level, case.version))) == []


def test_every_pss_check_has_an_engine_case() -> None:
    assert {c.check for c in CASES} == set(pss.CHECK_IDS)


def test_settings_follow_the_options_values_not_the_object() -> None:
    """The settings are remembered between checks, but by their values: a caller who reuses
    one Options object and changes its `extra` gets the new level at once."""
    opts = options("restricted")
    privileged_only = deployment(after={RO: "runAsUser: 0"})
    assert any(i.startswith("CH-K8S-PSS") for i in ids(scan(privileged_only, opts)))
    opts.extra["pss_level"] = "privileged"  # type: ignore[index]
    assert not any(i.startswith("CH-K8S-PSS") for i in ids(scan(privileged_only, opts)))


def test_the_hardened_deployment_has_no_finding_at_any_level_or_version() -> None:
    for level in pss.LEVELS:
        for v in ("v1.0", "v1.18", "v1.19", "v1.25", "v1.35", "latest"):
            assert scan(HARDENED, options(level, v)) == []


# ------------------------------------------------------------------ registration


def test_one_engine_check_per_upstream_check() -> None:
    assert list(ID) == list(pss.CHECK_IDS)
    assert list(ID.values()) == [f"CH-K8S-PSS-{i:03d}" for i in range(1, 20)]
    for upstream, cid in ID.items():
        c = get_check(cid)
        assert c is not None
        assert c.meta.file_types == ("kubernetes",)
        level = pss.get(upstream).level
        assert c.meta.frameworks.pss.startswith(f"{level}: {upstream}")
        assert upstream in c.meta.description
    mapped = {c.meta.id: c.meta.frameworks.cis_kubernetes for c in all_checks() if c.meta.id.startswith("CH-K8S-PSS")}
    assert mapped[ID["privileged"]] == "5.2.2" and mapped[ID["hostPathVolumes"]] == "5.2.12"


# ------------------------------------------------------------------ --pss-level / --pss-version gating

EVERYTHING_WRONG = deployment(
    replace={"runAsNonRoot: true": "runAsNonRoot: false", APE: "privileged: true"},
    after={SA: "hostNetwork: true"},
)


def test_level_selects_the_checks_that_run() -> None:
    restricted = set(ids(scan(EVERYTHING_WRONG, options("restricted")), "CH-K8S-PSS"))
    baseline = set(ids(scan(EVERYTHING_WRONG, options("baseline")), "CH-K8S-PSS"))
    assert restricted == {ID["privileged"], ID["hostNamespaces"], ID["runAsNonRoot"], ID["allowPrivilegeEscalation"]}
    assert baseline == {ID["privileged"], ID["hostNamespaces"]}
    assert ids(scan(EVERYTHING_WRONG, options("privileged")), "CH-K8S-PSS") == []


def test_default_is_restricted_at_latest() -> None:
    from customhouse.misconfig.engine import Options

    default = scan(EVERYTHING_WRONG, Options())
    assert ids(default, "CH-K8S-PSS") == ids(scan(EVERYTHING_WRONG, options("restricted", "v1.37")), "CH-K8S-PSS")
    assert all(extra(f)["pss_version"] == "v1.37" for f in _pss(default))


def test_version_selects_the_implementation() -> None:
    text = deployment(after={SA: "hostUsers: false"}, replace={"runAsNonRoot: true": "runAsUser: 0"})
    assert ids(scan(text, options("restricted", "v1.34")), "CH-K8S-PSS") == [ID["runAsNonRoot"], ID["runAsUser"]]
    assert ids(scan(text, options("restricted", "v1.35")), "CH-K8S-PSS") == []
    assert ids(scan(text, options("restricted", "v1.22")), "CH-K8S-PSS") == [ID["runAsNonRoot"]]
    (f,) = _pss(scan(text, options("restricted", "v1.30")))[1:]
    assert extra(f)["pss_check_version"] == "v1.23"


@pytest.mark.parametrize(("key", "value"), [("pss_level", "strict"), ("pss_version", "v1.40"), ("pss_version", "1")])
def test_bad_settings_are_usage_errors(key: str, value: str) -> None:
    from customhouse.misconfig.engine import Options

    with pytest.raises(UsageError):
        scan(HARDENED, Options(extra={key: value}))


# ------------------------------------------------------------------ every workload kind, and shapes

POD_SPEC = """\
containers:
  - name: app
    image: busybox:1.36
    securityContext:
      privileged: true
"""


def _indent(text: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def _wrap(kind: str, api: str, path: list[str], extra_spec: str = "") -> str:
    out = f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: w\n  namespace: team\n"
    depth = 0
    for key in path:
        out += " " * depth + f"{key}:\n"
        depth += 2
    return out + _indent(POD_SPEC, depth) + extra_spec


KINDS = [
    ("Pod", "v1", ["spec"], "$.spec.containers[0].securityContext.privileged"),
    ("PodTemplate", "v1", ["template", "spec"], "$.template.spec.containers[0].securityContext.privileged"),
    *[
        (k, api, ["spec", "template", "spec"], "$.spec.template.spec.containers[0].securityContext.privileged")
        for k, api in (
            ("Deployment", "apps/v1"),
            ("StatefulSet", "apps/v1"),
            ("DaemonSet", "apps/v1"),
            ("ReplicaSet", "apps/v1"),
            ("ReplicationController", "v1"),
            ("Job", "batch/v1"),
            ("Rollout", "argoproj.io/v1alpha1"),
        )
    ],
    (
        "CronJob",
        "batch/v1",
        ["spec", "jobTemplate", "spec", "template", "spec"],
        "$.spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged",
    ),
    (
        "Workflow",
        "example.com/v1",
        ["spec", "steps", "build", "podTemplate", "spec"],
        "$.spec.steps.build.podTemplate.spec.containers[0].securityContext.privileged",
    ),
]


@pytest.mark.parametrize(("kind", "api", "path", "json_path"), KINDS, ids=[k[0] for k in KINDS])
def test_every_workload_kind_and_templates_by_shape(kind: str, api: str, path: list[str], json_path: str) -> None:
    text = _wrap(kind, api, path)
    found = hits(scan(text, options("baseline")), ID["privileged"])
    assert [(f.location.json_path, f.location.line, f.location.resource_kind) for f in found] == [
        (json_path, line_of(text, "privileged: true"), kind)
    ]
    assert found[0].location.resource_namespace == "team"


def test_pod_template_annotations_are_read_from_the_template() -> None:
    text = deployment(
        replace={"labels:": "annotations:\n  container.apparmor.security.beta.kubernetes.io/app: unconfined\nlabels:"}
    )
    (f,) = hits(scan(text), ID["appArmorProfile"])
    assert (
        f.location.json_path
        == "$.spec.template.metadata.annotations['container.apparmor.security.beta.kubernetes.io/app']"
    )


def test_multi_document_streams_and_lists_point_at_each_object() -> None:
    pod_a = _wrap("Pod", "v1", ["spec"]).replace("name: w", "name: a")
    pod_b = _wrap("Pod", "v1", ["spec"]).replace("name: w", "name: b")
    listed = "apiVersion: v1\nkind: List\nitems:\n- " + _indent(pod_b, 2)[2:]
    text = pod_a + "---\n" + listed
    found = hits(scan(text, options("baseline")), ID["privileged"])
    assert [(f.location.resource_name, f.location.line) for f in found] == [
        ("a", line_of(text, "privileged: true", 1)),
        ("b", line_of(text, "privileged: true", 2)),
    ]
    assert found[1].location.json_path == "$.items[0].spec.containers[0].securityContext.privileged"


# ------------------------------------------------------------------ mechanical fixes


@pytest.mark.parametrize("case", CASES, ids=str)
def test_replacements_fix_what_they_claim(case: Case) -> None:
    opts = options(case.level, case.version)
    found = _pss(scan(case.fail, opts))
    for f in found:
        if not (f.misconfiguration and f.misconfiguration.replacement):
            continue
        fixed = apply_fix(case.fail, f)
        load_yaml_documents(fixed, "fixed.yaml")  # still YAML
        after = _pss(scan(fixed, opts))
        assert (f.id, f.location.json_path) not in {(g.id, g.location.json_path) for g in after}, fixed
        assert len(after) < len(found)


def test_which_cases_offer_a_replacement() -> None:
    offered = set()
    for case in CASES:
        for f in _pss(scan(case.fail, options(case.level, case.version))):
            if f.misconfiguration and f.misconfiguration.replacement:
                offered.add(str(case))
    assert offered == {
        "windowsHostProcess",
        "hostNamespaces",
        "privileged",
        "appArmorProfile",
        "appArmorProfile-annotation",
        "procMount",
        "seccompProfile_baseline",
        "seccompProfile_baseline-annotation",
        "allowPrivilegeEscalation",
        "allowPrivilegeEscalation-missing",
        "runAsNonRoot",
        "seccompProfile_restricted",
        "procMount_restricted",
    }


def test_missing_fields_are_inserted_with_their_parents() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: x:1\n"
    found = {f.id: f for f in scan(text)}
    ape = found[ID["allowPrivilegeEscalation"]]
    assert ape.location.line == line_of(text, "- name: app")
    assert ape.misconfiguration is not None
    assert ape.misconfiguration.replacement == (
        "    - name: app\n      securityContext:\n        allowPrivilegeEscalation: false"
    )
    fixed = text
    for cid in (ID["allowPrivilegeEscalation"], ID["runAsNonRoot"], ID["seccompProfile_restricted"]):
        (f,) = hits(scan(fixed), cid)
        fixed = apply_fix(fixed, f)
    assert ids(scan(fixed), "CH-K8S-PSS") == [ID["capabilities_restricted"]]


def test_json_manifests_get_value_fixes_but_no_inserted_lines() -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "x:1", "securityContext": {"privileged": True}}]},
    }
    text = json.dumps(manifest, indent=2) + "\n"
    found = {f.id: f for f in scan(text, options("restricted"), name="pod.json")}
    priv = found[ID["privileged"]]
    assert priv.location.line == line_of(text, '"privileged": true')
    assert priv.misconfiguration is not None and priv.misconfiguration.replacement.strip() == '"privileged": false'
    ape = found[ID["allowPrivilegeEscalation"]]
    assert ape.misconfiguration is not None and ape.misconfiguration.replacement == ""


def test_quoted_values_keep_their_quotes() -> None:
    text = deployment(after={RO: 'procMount: "Unmasked"'})
    (f,) = hits(scan(text, options("baseline")), ID["procMount"])
    assert f.misconfiguration is not None
    assert f.misconfiguration.replacement.strip() == 'procMount: "Default"'
