"""Checks for kubelet configuration files (`kind: KubeletConfiguration`, YAML or JSON).

The kubelet's HTTPS API (port 10250) can run commands in every pod on the node, so who may call
it and how it proves its own identity matter as much as any pod setting. These checks follow the
CIS Kubernetes Benchmark (v1.9, section 4.2) and judge a missing field by the documented defaults
of the kubelet.config.k8s.io/v1beta1 file format, which differ from the command-line flags':
in a config file anonymous authentication defaults to false, webhook authentication to true,
authorization to Webhook and readOnlyPort to 0, so leaving those out is not reported. Flags given
on the kubelet's command line override the file and are not visible here.

A file may carry several documents (kubeadm's InitConfiguration/ClusterConfiguration/
KubeletConfiguration bundle); only the KubeletConfiguration ones are checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from customhouse.misconfig.checks._hostconfig import falsy, insert_after, replace_value, truthy
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.yamlsrc import LocatedDoc, json_path

KUBELET_CONFIG = "https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/"
KUBELET_AUTH = "https://kubernetes.io/docs/reference/access-authn-authz/kubelet-authn-authz/"
TLS_BOOTSTRAP = "https://kubernetes.io/docs/reference/access-authn-authz/kubelet-tls-bootstrapping/"
CIS_K8S = "https://www.cisecurity.org/benchmark/kubernetes"
KIND = "KubeletConfiguration"


@dataclass
class _Kubelet:
    doc: Document
    ld: LocatedDoc
    data: dict[str, Any]

    def get(self, *keys: str) -> Any:
        cur: Any = self.data
        for k in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(k)
        return cur

    def present(self, *keys: str) -> bool:
        parent = self.get(*keys[:-1]) if len(keys) > 1 else self.data
        return isinstance(parent, dict) and parent.get(keys[-1]) is not None

    def anchor(self, *keys: str) -> tuple[str | int, ...]:
        """The deepest existing part of `keys` (the place to point at when the rest is missing)."""
        p: tuple[str | int, ...] = tuple(keys)
        while p and p not in self.ld.positions:
            p = p[:-1]
        return p or ("kind",)

    def at(self, message: str, *keys: str | int, fix: str = "", replacement: str = "", snippet: str = "") -> Violation:
        path = tuple(keys)
        where = path if path in self.ld.positions else self.anchor(*(str(k) for k in path))
        return Violation(
            message=message,
            line=self.ld.line(where),
            column=self.ld.column(where),
            snippet=snippet,
            fix=fix,
            replacement=replacement,
            json_path=json_path(path),
            resource_kind=KIND,
        )

    def set_value(self, *keys: str | int, value: str) -> str:
        p = tuple(keys)
        if p not in self.ld.positions:
            return ""
        return replace_value(self.doc.source(self.ld.line(p)), value, self.ld.column(p))

    def missing_top(self, message: str, key: str, value: str, fix: str) -> Violation:
        """A top-level field that is absent: point at `kind:` and, in YAML, add the field below it.

        An empty `value` means the right setting depends on the node, so no replacement is offered.
        """
        snippet = replacement = ""
        line = self.ld.line(("kind",))
        text = self.doc.source(line)
        yaml_line = not text.lstrip().startswith(("{", '"'))
        if value and text and yaml_line and ("kind",) in self.ld.positions:
            indent = " " * (self.ld.column(("kind",)) - 1)
            snippet, replacement = insert_after(self.doc, line, indent, f"{key}: {value}")
        return self.at(message, key, fix=fix, replacement=replacement, snippet=snippet)


def _kubelets(doc: Document) -> Iterator[_Kubelet]:
    for ld in doc.data if isinstance(doc.data, list) else []:
        if isinstance(ld, LocatedDoc) and isinstance(ld.data, dict) and ld.data.get("kind") == KIND:
            yield _Kubelet(doc, ld, ld.data)


@check(
    "CH-KL-001",
    "Kubelet anonymous authentication enabled",
    "high",
    ["kubelet"],
    description="`authentication.anonymous.enabled` is true.",
    rationale="""
Anonymous requests to the kubelet API are treated as `system:anonymous`. Combined with a
permissive authorizer this exposes `/exec`, `/run` and `/pods` on port 10250 to anyone on the
network, which is remote code execution in every pod on the node; even with Webhook
authorization it invites probing.
""",
    remediation="Set `authentication.anonymous.enabled: false` (the config-file default) and keep "
    "`authentication.webhook.enabled: true` plus `authentication.x509.clientCAFile`.",
    references=[KUBELET_AUTH, KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.1", nist_800_190="4.3.2", mitre_attack="T1609"),
)
def anonymous_auth(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if truthy(k.get("authentication", "anonymous", "enabled")):
            yield k.at(
                "anonymous requests to the kubelet API are allowed",
                "authentication",
                "anonymous",
                "enabled",
                fix="Set authentication.anonymous.enabled: false.",
                replacement=k.set_value("authentication", "anonymous", "enabled", value="false"),
            )


@check(
    "CH-KL-002",
    "Kubelet authorization allows everything",
    "high",
    ["kubelet"],
    description="`authorization.mode` is `AlwaysAllow`.",
    rationale="""
With AlwaysAllow every authenticated (and, with anonymous auth, every unauthenticated) caller may
use every kubelet endpoint, including exec into any pod; the API server's RBAC no longer decides
who may do what on the node.
""",
    remediation="Set `authorization.mode: Webhook` (the config-file default), so the kubelet asks the "
    "API server (SubjectAccessReview) for each request.",
    references=[KUBELET_AUTH, KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.2", nist_800_190="4.3.2", mitre_attack="T1609"),
)
def always_allow(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if str(k.get("authorization", "mode") or "").strip() == "AlwaysAllow":
            yield k.at(
                "kubelet authorization mode is AlwaysAllow",
                "authorization",
                "mode",
                fix="Set authorization.mode: Webhook.",
                replacement=k.set_value("authorization", "mode", value="Webhook"),
            )


@check(
    "CH-KL-003",
    "Kubelet client certificate authentication not configured",
    "medium",
    ["kubelet"],
    description="`authentication.x509.clientCAFile` is not set.",
    rationale="""
Without a client CA the kubelet cannot verify client certificates, including the API server's own
when it proxies logs, exec and port-forward. Operators then tend to fall back to anonymous access
or a permissive authorizer to make those features work.
""",
    remediation="Set `authentication.x509.clientCAFile` to the cluster CA bundle (kubeadm: "
    "/etc/kubernetes/pki/ca.crt).",
    references=[KUBELET_AUTH, KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.3", nist_800_190="4.3.2"),
)
def client_ca(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if str(k.get("authentication", "x509", "clientCAFile") or "").strip():
            continue
        yield k.at(
            "no client CA: the kubelet cannot authenticate client certificates",
            "authentication",
            "x509",
            "clientCAFile",
            fix="Set authentication.x509.clientCAFile to the cluster CA bundle.",
        )


@check(
    "CH-KL-004",
    "Kubelet webhook authentication disabled",
    "low",
    ["kubelet"],
    description="`authentication.webhook.enabled` is false.",
    rationale="""
Webhook authentication lets the kubelet validate bearer tokens (service account tokens of
monitoring agents, for example) with the API server. Turned off, those clients fail and the usual
workaround is re-enabling anonymous access or the read-only port.
""",
    remediation="Set `authentication.webhook.enabled: true` (the config-file default).",
    references=[KUBELET_AUTH, KUBELET_CONFIG],
    frameworks=Framework(nist_800_190="4.3.2"),
)
def webhook_authn(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if falsy(k.get("authentication", "webhook", "enabled")):
            yield k.at(
                "bearer token authentication via the API server is disabled",
                "authentication",
                "webhook",
                "enabled",
                fix="Set authentication.webhook.enabled: true.",
                replacement=k.set_value("authentication", "webhook", "enabled", value="true"),
            )


@check(
    "CH-KL-005",
    "Kubelet read-only port enabled",
    "high",
    ["kubelet"],
    description="`readOnlyPort` is set to a non-zero port.",
    rationale="""
The read-only port (traditionally 10255) serves pod specs, environment variables and node metrics
with no authentication or authorization at all: anyone who can reach the node reads every pod's
configuration, often including secrets passed as environment variables.
""",
    remediation="Set `readOnlyPort: 0` (the config-file default) and scrape metrics from the authenticated port 10250.",
    references=[KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.4", nist_800_190="4.3.2", mitre_attack="T1613"),
)
def read_only_port(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        port = k.get("readOnlyPort")
        if port is not None and str(port).strip() not in ("0", ""):
            yield k.at(
                f"the unauthenticated read-only API listens on port {port}",
                "readOnlyPort",
                fix="Set readOnlyPort: 0.",
                replacement=k.set_value("readOnlyPort", value="0"),
            )


_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+")


def zero_duration(value: Any) -> bool:
    """Whether a Go duration (`0`, `0s`, `0h0m0s`, or an integer) is zero."""
    s = str(value).strip()
    if re.fullmatch(r"[+-]?0+(\.0*)?", s):
        return True
    if not _DURATION.fullmatch(s):
        return False
    return all(float(n) == 0 for n, _ in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", s))


@check(
    "CH-KL-006",
    "Streaming connections never time out",
    "low",
    ["kubelet"],
    description="`streamingConnectionIdleTimeout` is 0.",
    rationale="""
A zero idle timeout keeps exec, attach and port-forward sessions open forever: abandoned or
hijacked sessions stay usable and idle connections accumulate until the kubelet runs out of
resources. (Kubernetes 1.35 deprecates the field; older kubelets honour it.)
""",
    remediation='Remove the field (default 4h) or set a bounded value, for example `"5m"`.',
    references=[KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.5", nist_800_190="4.3.2", mitre_attack="T1499"),
)
def streaming_timeout(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        value = k.get("streamingConnectionIdleTimeout")
        if value is not None and zero_duration(value):
            yield k.at(
                "streaming connections (exec, attach, port-forward) never time out",
                "streamingConnectionIdleTimeout",
                fix='Set streamingConnectionIdleTimeout: "5m" (or remove it).',
                replacement=k.set_value("streamingConnectionIdleTimeout", value='"5m"'),
            )


@check(
    "CH-KL-007",
    "Kernel defaults not protected",
    "low",
    ["kubelet"],
    description="`protectKernelDefaults` is not true (the default is false).",
    rationale="""
When false, the kubelet silently rewrites kernel tunables it disagrees with instead of refusing
to start, so a node's hardened sysctl settings can be undone without anyone noticing.
""",
    remediation="Set `protectKernelDefaults: true` and configure the kernel parameters the kubelet "
    "expects (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1...) on the host.",
    references=[KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.6 (v1.7)", nist_800_190="4.3.5"),
)
def protect_kernel_defaults(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if truthy(k.get("protectKernelDefaults")):
            continue
        msg = "the kubelet may rewrite the host's kernel parameters"
        if k.present("protectKernelDefaults"):
            yield k.at(
                msg,
                "protectKernelDefaults",
                fix="Set protectKernelDefaults: true.",
                replacement=k.set_value("protectKernelDefaults", value="true"),
            )
        else:
            yield k.missing_top(msg, "protectKernelDefaults", "true", "Set protectKernelDefaults: true.")


@check(
    "CH-KL-008",
    "Kubelet does not manage iptables utility chains",
    "low",
    ["kubelet"],
    description="`makeIPTablesUtilChains` is false.",
    rationale="""
The kubelet's iptables chains keep pod networking rules consistent with what the node runs;
without them, rules are left to manual configuration that drifts from the pods actually
scheduled, which can leave traffic filtering incomplete.
""",
    remediation="Set `makeIPTablesUtilChains: true` (the default) or remove the field.",
    references=[KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.6", nist_800_190="4.3.3"),
)
def iptables_chains(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if falsy(k.get("makeIPTablesUtilChains")):
            yield k.at(
                "the kubelet does not create its iptables utility chains",
                "makeIPTablesUtilChains",
                fix="Set makeIPTablesUtilChains: true.",
                replacement=k.set_value("makeIPTablesUtilChains", value="true"),
            )


@check(
    "CH-KL-009",
    "Unlimited event creation",
    "low",
    ["kubelet"],
    description="`eventRecordQPS` is 0 (no rate limit).",
    rationale="""
With no limit a crash-looping or hostile pod can make the kubelet flood the API server with
events, degrading the control plane for the whole cluster and burying the events that matter.
""",
    remediation="Remove the field (default 50) or set a positive rate that still captures the "
    "node's normal event volume.",
    references=[KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.8", nist_800_190="4.3.3", mitre_attack="T1499"),
)
def event_qps(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        value = k.get("eventRecordQPS")
        if value is not None and str(value).strip() == "0":
            yield k.at(
                "event creation is not rate limited",
                "eventRecordQPS",
                fix="Set eventRecordQPS: 50 (or remove it).",
                replacement=k.set_value("eventRecordQPS", value="50"),
            )


@check(
    "CH-KL-010",
    "Kubelet serves a self-signed certificate",
    "medium",
    ["kubelet"],
    description="Neither `tlsCertFile`/`tlsPrivateKeyFile` nor `serverTLSBootstrap: true` is set.",
    rationale="""
Without a serving certificate the kubelet generates a self-signed one, so the API server (and
anything else) cannot verify it is talking to the real kubelet: connections carrying exec
sessions and logs can be intercepted by whoever impersonates the node's address.
""",
    remediation="Set `serverTLSBootstrap: true` (with a CSR approver in the cluster) or provide "
    "`tlsCertFile` and `tlsPrivateKeyFile` signed by the cluster CA.",
    references=[TLS_BOOTSTRAP, KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.9", nist_800_190="4.3.5", mitre_attack="T1557"),
)
def serving_cert(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if truthy(k.get("serverTLSBootstrap")):
            continue
        if str(k.get("tlsCertFile") or "").strip() and str(k.get("tlsPrivateKeyFile") or "").strip():
            continue
        key = "serverTLSBootstrap" if k.present("serverTLSBootstrap") else "tlsCertFile"
        yield k.at(
            "the kubelet's serving certificate is self-signed (no tlsCertFile, no serverTLSBootstrap)",
            key,
            fix="Set serverTLSBootstrap: true, or tlsCertFile/tlsPrivateKeyFile signed by the cluster CA.",
            replacement=k.set_value("serverTLSBootstrap", value="true") if key == "serverTLSBootstrap" else "",
        )


@check(
    "CH-KL-011",
    "Kubelet client certificate rotation disabled",
    "medium",
    ["kubelet"],
    description="`rotateCertificates` is not true (the config-file default is false).",
    rationale="""
Without rotation the kubelet's client certificate is used until it expires: a stolen certificate
stays valid for its whole lifetime, and expiry takes the node out of the cluster.
""",
    remediation="Set `rotateCertificates: true` (kubeadm does) so the kubelet renews its client "
    "certificate through the certificates.k8s.io API.",
    references=[TLS_BOOTSTRAP, KUBELET_CONFIG, CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.10", nist_800_190="4.3.5"),
)
def rotate_certificates(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if truthy(k.get("rotateCertificates")):
            continue
        msg = "the kubelet's client certificate is not rotated"
        if k.present("rotateCertificates"):
            yield k.at(
                msg,
                "rotateCertificates",
                fix="Set rotateCertificates: true.",
                replacement=k.set_value("rotateCertificates", value="true"),
            )
        else:
            yield k.missing_top(msg, "rotateCertificates", "true", "Set rotateCertificates: true.")


@check(
    "CH-KL-012",
    "Kubelet serving certificate rotation disabled",
    "medium",
    ["kubelet"],
    description="`featureGates.RotateKubeletServerCertificate` is false.",
    rationale="""
The feature gate is what lets the kubelet request and renew its serving certificate from the API
server; disabled, `serverTLSBootstrap` cannot work and the kubelet keeps a static or self-signed
serving certificate.
""",
    remediation="Remove `RotateKubeletServerCertificate: false` from `featureGates` (the gate is on by "
    "default) and set `serverTLSBootstrap: true`.",
    references=[
        TLS_BOOTSTRAP,
        "https://kubernetes.io/docs/reference/command-line-tools-reference/feature-gates/",
        CIS_K8S,
    ],
    frameworks=Framework(cis_kubernetes="4.2.11", nist_800_190="4.3.5"),
)
def rotate_server_cert(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if falsy(k.get("featureGates", "RotateKubeletServerCertificate")):
            yield k.at(
                "serving certificate rotation is disabled by feature gate",
                "featureGates",
                "RotateKubeletServerCertificate",
                fix="Remove RotateKubeletServerCertificate: false from featureGates.",
                replacement=k.set_value("featureGates", "RotateKubeletServerCertificate", value="true"),
            )


_WEAK_CIPHER = re.compile(r"RC4|3DES|_DES_|_CBC_|NULL|EXPORT|_anon_|_MD5", re.IGNORECASE)


@check(
    "CH-KL-013",
    "Weak TLS cipher suites",
    "medium",
    ["kubelet"],
    description="`tlsCipherSuites` lists RC4, 3DES, CBC-mode, NULL or export suites.",
    rationale="""
These suites have practical attacks (Sweet32 on 3DES, RC4 biases, Lucky13-style padding oracles on
CBC) or provide no confidentiality at all; offering them lets a downgrade expose kubelet traffic,
which carries exec sessions and pod logs.
""",
    remediation="List only AEAD suites with forward secrecy, e.g. "
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305 (or remove the field).",
    references=[KUBELET_CONFIG, "https://pkg.go.dev/crypto/tls#pkg-constants", CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.12", nist_800_190="4.3.2", mitre_attack="T1557"),
)
def weak_ciphers(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        suites = k.get("tlsCipherSuites")
        for i, suite in enumerate(suites if isinstance(suites, list) else []):
            if _WEAK_CIPHER.search(str(suite)):
                yield k.at(
                    f"weak TLS cipher suite {suite} is allowed",
                    "tlsCipherSuites",
                    i,
                    fix=f"Remove {suite} from tlsCipherSuites.",
                )


@check(
    "CH-KL-014",
    "TLS versions below 1.2 allowed",
    "medium",
    ["kubelet"],
    description="`tlsMinVersion` is VersionTLS10 or VersionTLS11.",
    rationale="""
TLS 1.0 and 1.1 are deprecated (RFC 8996): they lack modern AEAD suites and are subject to
downgrade and padding attacks. Allowing them on the kubelet's API weakens the channel that
carries exec sessions and credentials.
""",
    remediation="Set `tlsMinVersion: VersionTLS12` (or VersionTLS13), or remove the field.",
    references=[KUBELET_CONFIG, "https://www.rfc-editor.org/rfc/rfc8996"],
    frameworks=Framework(nist_800_190="4.3.2", mitre_attack="T1557"),
)
def tls_min_version(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        v = str(k.get("tlsMinVersion") or "").strip()
        if v in ("VersionTLS10", "VersionTLS11", "VersionSSL30"):
            yield k.at(
                f"tlsMinVersion {v} allows deprecated TLS versions",
                "tlsMinVersion",
                fix="Set tlsMinVersion: VersionTLS12.",
                replacement=k.set_value("tlsMinVersion", value="VersionTLS12"),
            )


@check(
    "CH-KL-015",
    "RuntimeDefault seccomp not applied by default",
    "low",
    ["kubelet"],
    description="`seccompDefault` is not true (the default is false).",
    rationale="""
Pods that do not request a seccomp profile run Unconfined unless the kubelet applies the runtime's
default profile to them; most workloads never set one, so they run with the full system call
surface of the kernel.
""",
    remediation="Set `seccompDefault: true` after checking that workloads run under the runtime's "
    "default profile (they nearly always do).",
    references=[
        KUBELET_CONFIG,
        "https://kubernetes.io/docs/tutorials/security/seccomp/#enable-the-use-of-runtimedefault-as-the-default-seccomp-profile-for-all-workloads",
    ],
    frameworks=Framework(nist_800_190="4.4.3", mitre_attack="T1611"),
)
def seccomp_default(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        if truthy(k.get("seccompDefault")):
            continue
        msg = "pods without a seccomp profile run Unconfined"
        if k.present("seccompDefault"):
            yield k.at(
                msg,
                "seccompDefault",
                fix="Set seccompDefault: true.",
                replacement=k.set_value("seccompDefault", value="true"),
            )
        else:
            yield k.missing_top(msg, "seccompDefault", "true", "Set seccompDefault: true.")


@check(
    "CH-KL-016",
    "No pod PID limit",
    "low",
    ["kubelet"],
    description="`podPidsLimit` is unset or -1 (unlimited).",
    rationale="""
Without a per-pod PID limit one pod's fork bomb (or a leak of threads) exhausts the node's process
table, and every other pod and the kubelet itself fail to start processes.
""",
    remediation="Set `podPidsLimit` to a bound that fits the workloads, for example 4096.",
    references=[KUBELET_CONFIG, "https://kubernetes.io/docs/concepts/policy/pid-limiting/", CIS_K8S],
    frameworks=Framework(cis_kubernetes="4.2.13", nist_800_190="4.4.3", mitre_attack="T1499"),
)
def pod_pids_limit(doc: Document, options: Options) -> Iterable[Violation]:
    for k in _kubelets(doc):
        value = k.get("podPidsLimit")
        try:
            limited = value is not None and int(value) > 0
        except (TypeError, ValueError):
            limited = False
        if limited:
            continue
        msg = "pods may create unlimited processes"
        if value is not None:
            yield k.at(msg, "podPidsLimit", fix="Set podPidsLimit: 4096 (or a bound that fits).")
        else:
            yield k.missing_top(msg, "podPidsLimit", "", "Set podPidsLimit to a bound such as 4096.")
