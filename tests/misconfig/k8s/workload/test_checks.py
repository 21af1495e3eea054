"""Workload hardening checks (CH-K8S-*): a failing and a near-miss fixture for each.

Per-document checks start from the hardened Deployment (no finding at all) and change one thing;
tree-level checks get several files, because their answer depends on other objects (a LimitRange,
a RoleBinding, a NetworkPolicy, a PodDisruptionBudget), and must report in the file of the object
they are about.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from customhouse.misconfig.checks.k8s_workload import registry_allowed, runtime_socket, selector_matches
from customhouse.misconfig.engine import Options, get_check

from ..pss.util import (
    DIGEST,
    HARDENED,
    apply_fix,
    deployment,
    hits,
    ids,
    line_of,
    lines,
    options,
    scan,
    scan_tree_texts,
)

RO = "readOnlyRootFilesystem: true"
SA = "automountServiceAccountToken: false"
IMAGE = f"image: registry.example.com/shop/web:1.4.2@{DIGEST}"


def _without_block(text: str, key: str) -> str:
    """`text` without the block that starts at the line `key` (and its deeper-indented lines)."""
    out, skipping, indent = [], False, 0
    for line in text.splitlines():
        stripped = line.strip()
        if skipping:
            if stripped and len(line) - len(line.lstrip()) <= indent:
                skipping = False
            else:
                continue
        if stripped == key:
            skipping, indent = True, len(line) - len(line.lstrip())
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def job(container_extra: str = "") -> str:
    return (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  namespace: shop\nspec:\n  template:\n"
        "    spec:\n      restartPolicy: Never\n      containers:\n        - name: migrate\n"
        f"          image: registry.example.com/shop/migrate:2@{DIGEST}\n{container_extra}"
    )


@dataclass(frozen=True)
class Case:
    check_id: str
    fail: str
    fail_at: str
    passing: str
    opts: Options | None = None
    nth: int = 1
    note: str = ""

    def __str__(self) -> str:
        return f"{self.check_id}{'-' + self.note if self.note else ''}"


CASES = [
    Case("CH-K8S-003", _without_block(HARDENED, "livenessProbe:"), "- name: app", job()),
    Case(
        "CH-K8S-003",
        _without_block(HARDENED, "livenessProbe:").replace("kind: Deployment", "kind: StatefulSet"),
        "- name: app",
        _without_block(HARDENED, "livenessProbe:").replace(
            "    spec:\n      serviceAccountName", "    spec:\n      restartPolicy: OnFailure\n      serviceAccountName"
        ),
        note="restartPolicy",
    ),
    Case("CH-K8S-004", _without_block(HARDENED, "readinessProbe:"), "- name: app", job()),
    Case(
        "CH-K8S-005",
        deployment(replace={RO: "readOnlyRootFilesystem: false"}),
        "readOnlyRootFilesystem: false",
        HARDENED,
    ),
    Case(
        "CH-K8S-005",
        deployment(replace={RO: ""}),
        "securityContext:",
        deployment(replace={RO: ""}, after={SA: "os:\n  name: windows"}),
        nth=2,
        note="missing",
    ),
    Case(
        "CH-K8S-007",
        deployment(replace={"serviceAccountName: web": "", SA: ""}),
        "spec:",
        deployment(replace={"serviceAccountName: web": ""}),
        nth=2,
    ),
    Case(
        "CH-K8S-007",
        deployment(replace={"serviceAccountName: web": "serviceAccountName: default", SA: ""}),
        "serviceAccountName: default",
        deployment(replace={SA: ""}),
        note="explicit",
    ),
    Case("CH-K8S-008", deployment(replace={IMAGE: "image: nginx"}), "image: nginx", HARDENED),
    Case(
        "CH-K8S-008",
        deployment(replace={IMAGE: "image: ghcr.io/acme/web:latest"}),
        "image:",
        deployment(replace={IMAGE: f"image: ghcr.io/acme/web:latest@{DIGEST}"}),
        note="latest",
    ),
    Case(
        "CH-K8S-009",
        deployment(replace={IMAGE: "image: registry.example.com/shop/web:1.4.2"}),
        "image:",
        deployment(replace={IMAGE: f"image: registry.example.com/shop/web@{DIGEST}"}),
    ),
    Case(
        "CH-K8S-010",
        deployment(replace={IMAGE: f"image: docker.io/library/nginx:1.27@{DIGEST}"}),
        "image:",
        HARDENED,
        Options(registry_allowlist=("registry.example.com",)),
    ),
    Case(
        "CH-K8S-010",
        deployment(replace={IMAGE: f"image: ghcr.io/acme-evil/web:1@{DIGEST}"}),
        "image:",
        deployment(replace={IMAGE: f"image: ghcr.io/acme/team/web:1@{DIGEST}"}),
        Options(registry_allowlist=("ghcr.io/acme", "registry.example.com")),
        note="path-prefix",
    ),
    Case(
        "CH-K8S-011",
        deployment(
            after={IMAGE: "env:\n  - name: DB_HOST\n    value: db\n  - name: DB_PASSWORD\n    value: s3cr3t-pa55"}
        ),
        "value: s3cr3t-pa55",
        deployment(
            after={
                IMAGE: "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {name: db, key: password}\n"
                "  - name: API_TOKEN\n    value: $(TOKEN_FROM_SECRET)\n  - name: PASSWORD_MIN_LENGTH\n    value: '12'"
            }
        ),
    ),
    Case(
        "CH-K8S-011",
        deployment(after={IMAGE: "env:\n  - name: AWS_KEY\n    value: AKIAIOSFODNN7EXAMPLE"}),
        "AKIA",
        deployment(after={IMAGE: "env:\n  - name: AWS_REGION\n    value: eu-west-1"}),
        note="value-pattern",
    ),
    Case(
        "CH-K8S-012",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  LOG_LEVEL: info\n  API_KEY: 9f8e7d6c5b4a\n",
        "API_KEY",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  LOG_LEVEL: info\n"
        "  API_KEY_FILE: /run/secrets/api-key\n  TOKEN_TTL: '3600'\n",
    ),
    Case(
        "CH-K8S-012",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  application.properties: |\n"
        "    server.port=8080\n    spring.datasource.url=jdbc:postgresql://db/app\n"
        "    spring.datasource.password=Sup3rS3cret!\n",
        "datasource.password",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  application.properties: |\n"
        "    server.port=8080\n    spring.datasource.password=${DB_PASSWORD}\n",
        note="inside-a-file",
    ),
    Case(
        "CH-K8S-013",
        deployment(after={SA: "volumes:\n  - name: docker\n    hostPath:\n      path: /var/run/docker.sock"}),
        "path: /var/run/docker.sock",
        deployment(after={SA: "volumes:\n  - name: logs\n    hostPath:\n      path: /var/log/app"}),
    ),
    Case(
        "CH-K8S-013",
        deployment(after={SA: "volumes:\n  - name: run\n    hostPath:\n      path: /run/containerd/"}),
        "path: /run/containerd/",
        deployment(after={SA: "volumes:\n  - name: run\n    hostPath:\n      path: /run/app"}),
        note="socket-directory",
    ),
    Case(
        "CH-K8S-014",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssh\nspec:\n  type: NodePort\n  ports:\n"
        "    - port: 2222\n      targetPort: 22\n",
        "targetPort: 22",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssh\nspec:\n  type: ClusterIP\n  ports:\n"
        "    - port: 2222\n      targetPort: 22\n",
    ),
    Case(
        "CH-K8S-014",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  type: LoadBalancer\n  ports:\n"
        "    - name: https\n      port: 443\n    - name: kube\n      port: 6443\n",
        "port: 6443",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  type: LoadBalancer\n  ports:\n"
        "    - name: https\n      port: 443\n      targetPort: 8443\n",
        note="loadbalancer",
    ),
    Case(
        "CH-K8S-015",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n"
        "    - host: shop.example.com\n",
        "spec:",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  tls:\n"
        "    - hosts: ['*.example.com']\n      secretName: wildcard\n  rules:\n    - host: shop.example.com\n",
    ),
    Case(
        "CH-K8S-015",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  tls:\n"
        "    - hosts: [shop.example.com]\n      secretName: shop\n  rules:\n    - host: shop.example.com\n"
        "    - host: admin.example.com\n",
        "host: admin.example.com",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  tls:\n"
        "    - secretName: default-cert\n  rules:\n    - host: shop.example.com\n    - host: admin.example.com\n",
        note="uncovered-host",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_failing_fixture(case: Case) -> None:
    found = scan(case.fail, case.opts or options())
    assert lines(found, case.check_id) == [line_of(case.fail, case.fail_at, case.nth)], [f.message for f in found]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_passing_fixture(case: Case) -> None:
    assert hits(scan(case.passing, case.opts or options()), case.check_id) == []


def test_hardened_deployment_is_clean_and_a_bare_pod_is_not() -> None:
    assert scan(HARDENED) == []
    bare = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: nginx\n"
    assert {i for i in ids(scan(bare)) if not i.startswith("CH-K8S-PSS")} == {
        "CH-K8S-003",
        "CH-K8S-004",
        "CH-K8S-005",
        "CH-K8S-007",
        "CH-K8S-008",
    }


def test_read_only_root_fs_fix_applies() -> None:
    text = deployment(replace={RO: "readOnlyRootFilesystem: false"})
    (f,) = hits(scan(text), "CH-K8S-005")
    assert hits(scan(apply_fix(text, f)), "CH-K8S-005") == []


def test_secrets_are_masked_in_snippets() -> None:
    text = deployment(after={IMAGE: "env:\n  - name: DB_PASSWORD\n    value: s3cr3t-pa55"})
    (f,) = hits(scan(text), "CH-K8S-011")
    assert f.misconfiguration is not None
    assert "s3cr3t-pa55" not in f.misconfiguration.snippet and "s3" in f.misconfiguration.snippet
    assert "DB_PASSWORD" in f.message and "s3cr3t" not in f.message


def test_probes_on_init_and_ephemeral_containers_are_not_expected() -> None:
    text = deployment(
        after={
            SA: f"initContainers:\n  - name: init\n    image: registry.example.com/i:1@{DIGEST}\n"
            f"ephemeralContainers:\n  - name: dbg\n    image: registry.example.com/d:1@{DIGEST}"
        }
    )
    found = scan(text)
    assert hits(found, "CH-K8S-003") == [] and hits(found, "CH-K8S-004") == []


def test_registry_allowlist_matching() -> None:
    allow = ("registry.example.com", "ghcr.io/acme", "*.dkr.ecr.*.amazonaws.com", "index.docker.io/library")
    assert registry_allowed("registry.example.com", "registry.example.com/a/b", allow)
    assert registry_allowed("ghcr.io", "ghcr.io/acme/web", allow)
    assert not registry_allowed("ghcr.io", "ghcr.io/acme-evil/web", allow)
    assert registry_allowed("123.dkr.ecr.eu-west-1.amazonaws.com", "123.dkr.ecr.eu-west-1.amazonaws.com/x", allow)
    assert registry_allowed("docker.io", "docker.io/library/nginx", allow)
    assert not registry_allowed("docker.io", "docker.io/bitnami/nginx", allow)
    assert not registry_allowed("quay.io", "quay.io/x/y", ())


def test_registry_check_is_silent_without_allowlist() -> None:
    text = deployment(replace={IMAGE: f"image: quay.io/x/y:1@{DIGEST}"})
    assert hits(scan(text, Options()), "CH-K8S-010") == []


@pytest.mark.parametrize(
    ("path", "socket"),
    [
        ("/var/run/docker.sock", True),
        ("/run/containerd/containerd.sock", True),
        ("/var/run/crio/crio.sock", True),
        ("/var/run/", True),
        ("//run/containerd", True),
        ("/var/lib/docker", False),
        ("/var/log", False),
        ("", False),
    ],
)
def test_runtime_socket_paths(path: str, socket: bool) -> None:
    assert runtime_socket(path) is socket


def test_configmap_secret_line_points_into_the_file() -> None:
    case = next(c for c in CASES if str(c) == "CH-K8S-012-inside-a-file")
    (f,) = hits(scan(case.fail), "CH-K8S-012")
    assert f.location.line == line_of(case.fail, "datasource.password")
    assert f.misconfiguration is not None and "Sup3rS3cret!" not in f.misconfiguration.snippet


def test_admin_ports_come_from_options() -> None:
    case = next(c for c in CASES if str(c) == "CH-K8S-014")
    assert hits(scan(case.fail, Options(admin_ports=frozenset({3389}))), "CH-K8S-014") == []
    assert len(hits(scan(case.fail, Options(admin_ports=frozenset({2222}))), "CH-K8S-014")) == 1


# ------------------------------------------------------------------ tree-level checks

NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
DENY = (
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: shop\n"
    "spec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"
)
ALLOW_ALL = (
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-all\n  namespace: shop\n"
    "spec:\n  podSelector: {}\n  ingress:\n    - {}\n"
)


def tree(**files: str) -> list:  # type: ignore[type-arg]
    return scan_tree_texts({name.replace("_", "/") + ".yaml": text for name, text in files.items()})


def test_hardened_tree_is_clean() -> None:
    assert tree(deploy=HARDENED, netpol=DENY) == []


def test_tree_checks_are_registered_for_the_tree() -> None:
    for cid in ("CH-K8S-001", "CH-K8S-002", "CH-K8S-006", "CH-K8S-016", "CH-K8S-017"):
        c = get_check(cid)
        assert c is not None and c.meta.file_types == ("kubernetes-tree",)


def test_memory_limit_and_limitrange_defaults() -> None:
    text = _without_block(HARDENED, "limits:")
    (f,) = hits(tree(app_deploy=text, netpol=DENY), "CH-K8S-001")
    assert (f.location.path, f.location.line) == ("app/deploy.yaml", line_of(text, "resources:"))
    assert f.misconfiguration is not None and f.misconfiguration.snippet == text.splitlines()[f.location.line - 1]
    lr = (
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: defaults\n  namespace: shop\nspec:\n  limits:\n"
        "    - type: Container\n      default:\n        memory: 512Mi\n"
    )
    assert hits(tree(app_deploy=text, netpol=DENY, lr=lr), "CH-K8S-001") == []
    assert hits(tree(app_deploy=text, netpol=DENY, lr=lr.replace("shop", "other")), "CH-K8S-001") != []


def test_requests_are_satisfied_by_limits_and_limitrange() -> None:
    text = _without_block(HARDENED, "requests:")
    (f,) = hits(tree(d=text, n=DENY), "CH-K8S-002")
    assert "cpu" in f.message and "memory" not in f.message  # the memory limit becomes the memory request
    with_cpu_limit = text.replace("memory: 256Mi", "memory: 256Mi\n              cpu: 500m")
    assert hits(tree(d=with_cpu_limit, n=DENY), "CH-K8S-002") == []
    lr = (
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: d\n  namespace: shop\nspec:\n  limits:\n"
        "    - type: Container\n      defaultRequest:\n        cpu: 100m\n"
    )
    assert hits(tree(d=text, n=DENY, lr=lr), "CH-K8S-002") == []


def test_unused_token_rule() -> None:
    text = deployment(replace={SA: ""})
    (f,) = hits(tree(d=text, n=DENY), "CH-K8S-006")
    assert f.location.line == line_of(text, "spec:", 2)
    assert f.misconfiguration is not None and "automountServiceAccountToken: false" in f.misconfiguration.replacement
    assert hits(scan_tree_texts({"d.yaml": apply_fix(text, f), "n.yaml": DENY}), "CH-K8S-006") == []
    bound = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: web\n  namespace: shop\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n"
        "subjects:\n  - kind: ServiceAccount\n    name: web\n"
    )
    assert hits(tree(d=text, n=DENY, rb=bound), "CH-K8S-006") == []
    other_ns = bound.replace("    name: web\n", "    name: web\n    namespace: elsewhere\n")
    assert len(hits(tree(d=text, n=DENY, rb=other_ns), "CH-K8S-006")) == 1
    sa_off = (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n  namespace: shop\n"
        "automountServiceAccountToken: false\n"
    )
    assert hits(tree(d=text, n=DENY, sa=sa_off), "CH-K8S-006") == []
    explicit = deployment(replace={SA: "automountServiceAccountToken: true"})
    assert hits(tree(d=explicit, n=DENY), "CH-K8S-006") == []
    group = bound.replace("kind: ServiceAccount\n    name: web", "kind: Group\n    name: system:serviceaccounts:shop")
    assert hits(tree(d=text, n=DENY, rb=group), "CH-K8S-006") == []


def test_default_deny_per_namespace() -> None:
    (f,) = hits(tree(ns=NS, d=HARDENED), "CH-K8S-016")
    assert (f.location.path, f.location.resource_kind, f.location.line) == ("ns.yaml", "Namespace", 3)
    assert "'shop'" in f.message
    assert hits(tree(ns=NS, d=HARDENED, n=DENY), "CH-K8S-016") == []
    (undone,) = hits(tree(ns=NS, d=HARDENED, n=DENY, a=ALLOW_ALL), "CH-K8S-016")
    assert "allow-all" in undone.message
    egress_only = DENY.replace("[Ingress, Egress]", "[Egress]")
    assert len(hits(tree(d=HARDENED, n=egress_only), "CH-K8S-016")) == 1
    some_pods = DENY.replace("podSelector: {}", "podSelector: {matchLabels: {app: web}}")
    assert len(hits(tree(d=HARDENED, n=some_pods), "CH-K8S-016")) == 1
    implicit_types = DENY.replace("  policyTypes: [Ingress, Egress]\n", "")
    assert hits(tree(d=HARDENED, n=implicit_types), "CH-K8S-016") == []
    system = HARDENED.replace("namespace: shop", "namespace: kube-system")
    assert hits(tree(d=system), "CH-K8S-016") == []


def test_pdb_for_replicated_workloads() -> None:
    text = HARDENED.replace("replicas: 1", "replicas: 3")
    (f,) = hits(tree(d=text, n=DENY), "CH-K8S-017")
    assert (f.location.path, f.location.line) == ("d.yaml", line_of(text, "replicas: 3"))
    pdb = (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n  namespace: shop\nspec:\n"
        "  minAvailable: 2\n  selector:\n    matchLabels:\n      app: web\n"
    )
    assert hits(tree(d=text, n=DENY, pdb=pdb), "CH-K8S-017") == []
    assert len(hits(tree(d=text, n=DENY, pdb=pdb.replace("app: web", "app: api")), "CH-K8S-017")) == 1
    assert len(hits(tree(d=text, n=DENY, pdb=pdb.replace("namespace: shop", "namespace: x")), "CH-K8S-017")) == 1
    assert hits(tree(d=HARDENED, n=DENY), "CH-K8S-017") == []  # one replica: nothing to keep available
    rollout = text.replace("apiVersion: apps/v1\nkind: Deployment", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout")
    assert len(hits(tree(d=rollout, n=DENY), "CH-K8S-017")) == 1


@pytest.mark.parametrize(
    ("selector", "labels", "match"),
    [
        ({}, {"a": "1"}, True),
        (None, {"a": "1"}, False),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "2"}}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]}, {"a": "1"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, {"a": ""}, False),
    ],
)
def test_label_selectors(selector: object, labels: dict[str, str], match: bool) -> None:
    assert selector_matches(selector, labels) is match
