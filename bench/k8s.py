"""Kubernetes posture benchmark: `customhouse k8s` vs checkov on one generated tree, in one run (issue #5).

Input: a tree of at least 2,000 manifest files generated deterministically (seeded) to look like a
GitOps repository of five clusters: per namespace its Namespace, RBAC, NetworkPolicies, quotas and
LimitRanges; per application a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob or bare
Pod) with a realistic mix of security contexts, and its Service, Ingress, ConfigMap, Secret,
ServiceAccount, PodDisruptionBudget, HorizontalPodAutoscaler and NetworkPolicy; per cluster the
operators' ClusterRoles and bindings. Most files hold one object; some are multi-document (Helm
`template` output), some a `kind: List`, a few are JSON. The tree is cached under
bench/results/k8s/ keyed by the generator version, seed and size.

Measured, interleaved (each round runs every command once; medians):

- `customhouse k8s TREE -f json --scanners misconfig`: Pod Security Standards, workload hardening,
  RBAC, NetworkPolicy: the job checkov's kubernetes framework does (it scans no secrets);
- `checkov -d TREE --framework kubernetes -o json` (offline: `--skip-download`, no version check, no
  policy mapping; once per run, strace shows it opens no network connection: `--no-verify-offline`
  skips that);
- `customhouse k8s TREE -f json` (information: the default, which adds the secret scan of every
  manifest, Secret `data` decoded);
- `customhouse config TREE -f json --scanners misconfig` (information: the same manifests through
  the all-file-types scan).

Wall time ratio (target: 30x faster than checkov), peak RSS of each process (wait4; target: ours
under 300 MB), then the Pod Security Standards evaluator in-process over every pod template of the
tree, parsing excluded and included (target: at least 2,000 manifests/s), and the findings compared
per resource for the checkov checks that correspond to Pod Security Standards controls, with every
disagreement classified by reading the manifest.

    bench/setup-peers                    # once: checkov in .venv-peers
    .venv/bin/python -m bench.k8s [--runs 5] [--files 2000] [--pss-rounds 7] [--no-verify-offline]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench._common import ROOT, Result, precompile, run_once, table, tool
from bench.config import CHECKOV_ENV, checkov_reports, interleaved, peer

GENERATOR_VERSION = 1
SEED = 5  # issue #5
TARGETS = {"vs_checkov": 30.0, "peak_mb": 300.0, "pss_per_second": 2000.0}
WORK = ROOT / "bench" / "results" / "k8s"

try:
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Dumper = yaml.SafeDumper


# ============================================================================================ the tree
#
# Everything below draws from one random.Random(SEED) in a fixed order, so the same version, seed
# and size always give the same bytes. Weights are what GitOps repositories of mid-sized companies
# look like in our experience of reading them: most workloads set nothing or half of what the
# restricted profile asks, a fifth are fully hardened, node agents are privileged.

CLUSTERS = ("prod-eu", "prod-us", "staging", "dev", "ops")
TEAMS = (
    "payments", "checkout", "catalog", "search", "identity", "orders", "billing", "shipping",
    "inventory", "notifications", "analytics", "recommendations", "media", "reviews", "pricing",
    "loyalty", "support", "partners", "fraud", "ledger", "reporting", "marketing", "cms", "gateway",
)  # fmt: skip
APP_WORDS = (
    "api", "web", "worker", "consumer", "scheduler", "sync", "exporter", "gateway", "frontend",
    "backend", "processor", "indexer", "cache", "proxy", "admin", "importer", "mailer", "renderer",
)  # fmt: skip
IMAGES = (
    ("nginx", ("1.25.3", "1.27.0-alpine", "stable")),
    ("python", ("3.11-slim", "3.12.4-slim-bookworm")),
    ("node", ("20.11-alpine", "18-bullseye-slim")),
    ("eclipse-temurin", ("21-jre", "17.0.10_7-jre-jammy")),
    ("golang", ("1.22",)),
    ("redis", ("7.2.4", "7-alpine")),
    ("postgres", ("16.2", "15-alpine")),
    ("busybox", ("1.36", "latest")),
    ("envoyproxy/envoy", ("v1.29.1",)),
    ("bitnami/kubectl", ("1.29",)),
)
REGISTRIES = ("", "", "", "ghcr.io/acme/", "registry.acme.internal/", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/")

# security-context profiles of ordinary workloads: (name, weight)
PROFILES = (
    ("restricted-pod", 18),  # runAsNonRoot + seccomp on the pod, containers drop ALL, no escalation
    ("restricted-container", 7),  # the same, all of it repeated on every container
    ("restricted-localhost-seccomp", 2),  # restricted with a Localhost seccomp profile
    ("restricted-net-bind", 3),  # restricted + NET_BIND_SERVICE added
    ("restricted-drop-lowercase", 2),  # restricted but `drop: [all]`
    ("restricted-root-init", 3),  # restricted pod whose init container chowns as root
    ("restricted-uid0-sidecar", 2),  # pod runAsNonRoot: true, a sidecar overrides runAsUser: 0
    ("apparmor", 3),  # restricted + AppArmor annotations (some unconfined)
    ("seccomp-annotation", 2),  # legacy seccomp annotations only
    ("uid-only", 10),  # runAsUser/fsGroup on the pod, no runAsNonRoot
    ("no-escalation-only", 8),  # allowPrivilegeEscalation: false and a read-only root, nothing else
    ("none", 22),  # no securityContext at all
    ("empty", 3),  # `securityContext: {}` everywhere (chart defaults)
    ("root", 3),  # explicitly root
    ("net-admin", 3),  # NET_ADMIN (and NET_RAW)
    ("sys-admin", 1),  # SYS_ADMIN (FUSE mounts)
    ("seccomp-unconfined", 2),
    ("sysctls", 1),
    ("host-port", 2),
    ("privileged", 2),  # docker-in-docker CI runners
)
# node agents (DaemonSets in the platform namespaces)
NODE_AGENTS = (
    ("cni", 3),  # privileged, hostNetwork, NET_ADMIN/SYS_ADMIN, CNI hostPaths
    ("node-exporter", 3),  # hostNetwork/hostPID, /proc and /sys, hostPort, non-root
    ("log-shipper", 3),  # root, /var/log hostPaths, SELinux spc_t on some
    ("runtime-security", 1),  # privileged, containerd socket
    ("csi-node", 2),  # privileged, kubelet dir with Bidirectional propagation
    ("windows-exporter", 1),  # Windows hostProcess
)


def _choice(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([n for n, _ in weighted], weights=[w for _, w in weighted])[0]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class App:
    name: str
    namespace: str
    kind: str
    profile: str
    replicas: int
    web: bool
    service_account: str
    labels: dict[str, str]


@dataclass
class Tree:
    """What was generated, for the report (the files themselves are on disk)."""

    files: Counter[str] = field(default_factory=Counter)  # single / multi / list / json
    objects: Counter[str] = field(default_factory=Counter)  # by kind
    profiles: Counter[str] = field(default_factory=Counter)  # pod templates by security profile
    workloads: Counter[str] = field(default_factory=Counter)  # by kind
    containers: int = 0
    init_containers: int = 0
    namespaces: int = 0
    apps: int = 0
    profile_of: dict[str, str] = field(default_factory=dict)  # "file|Kind|ns|name" -> profile


class Generator:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.stats = Tree()
        self.n_files = 0

    # ------------------------------------------------------------------ writing

    def write(self, rel: str, objs: list[dict[str, Any]], style: str = "single", header: str = "") -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for o in objs:
            self.stats.objects[o["kind"]] += 1
        if style == "json":
            assert len(objs) == 1
            text = json.dumps(objs[0], indent=2) + "\n"
        elif style == "list":
            text = header + yaml.dump({"apiVersion": "v1", "kind": "List", "items": objs}, Dumper=_Dumper, **_YAML)
        else:
            text = header + yaml.dump_all(objs, Dumper=_Dumper, explicit_start=len(objs) > 1, **_YAML)
        path.write_text(text)
        self.stats.files[style if len(objs) > 1 or style in ("json", "list") else "single"] += 1
        self.n_files += 1

    # ------------------------------------------------------------------ pieces

    def image(self, name: str | None = None) -> str:
        rng = self.rng
        repo, tags = rng.choice(IMAGES) if name is None else (name, ("1.0",))
        reg = rng.choice(REGISTRIES)
        r = rng.random()
        if r < 0.04:
            return f"{reg}{repo}"  # no tag
        if r < 0.08:
            return f"{reg}{repo}:latest"
        tag = rng.choice(tags)
        if r < 0.20:
            return f"{reg}{repo}:{tag}@sha256:{rng.getrandbits(256):064x}"
        return f"{reg}{repo}:{tag}"

    def resources(self) -> dict[str, Any] | None:
        r = self.rng.random()
        cpu = self.rng.choice(("50m", "100m", "250m", "500m", "1"))
        mem = self.rng.choice(("64Mi", "128Mi", "256Mi", "512Mi", "1Gi", "2Gi"))
        if r < 0.62:
            return {"requests": {"cpu": cpu, "memory": mem}, "limits": {"memory": mem}}
        if r < 0.75:
            return {"requests": {"cpu": cpu, "memory": mem}, "limits": {"cpu": cpu, "memory": mem}}
        if r < 0.87:
            return {"requests": {"cpu": cpu, "memory": mem}}
        return None

    def env(self, app: App) -> list[dict[str, Any]]:
        rng = self.rng
        out: list[dict[str, Any]] = [{"name": "LOG_LEVEL", "value": rng.choice(("info", "debug", "warn"))}]
        if rng.random() < 0.5:
            out.append({"name": "PORT", "value": "8080"})
        if rng.random() < 0.35:
            out.append(
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": f"{app.name}-db", "key": "password"}},
                }
            )
        if rng.random() < 0.03:
            out.append({"name": "STRIPE_API_KEY", "value": f"sk_live_{rng.getrandbits(96):024x}"})
        if rng.random() < 0.02:
            out.append({"name": "ADMIN_PASSWORD", "value": "changeme123"})
        out.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        return out

    def container(self, app: App, name: str, long_running: bool, port: int | None) -> dict[str, Any]:
        rng = self.rng
        c: dict[str, Any] = {"name": name, "image": self.image()}
        if rng.random() < 0.5:
            c["imagePullPolicy"] = rng.choice(("IfNotPresent", "Always"))
        if port:
            c["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        if rng.random() < 0.7:
            c["env"] = self.env(app)
        res = self.resources()
        if res:
            c["resources"] = res
        if long_running and port:
            probe = {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 10}
            if rng.random() < 0.75:
                c["livenessProbe"] = dict(probe, initialDelaySeconds=15)
            if rng.random() < 0.8:
                c["readinessProbe"] = dict(probe, httpGet={"path": "/ready", "port": port})
        return c

    # ------------------------------------------------------------------ security profiles

    @staticmethod
    def _hardened(c: dict[str, Any], read_only: bool, drop: str = "ALL") -> None:
        sc = c.setdefault("securityContext", {})
        sc["allowPrivilegeEscalation"] = False
        sc["capabilities"] = {"drop": [drop]}
        if read_only:
            sc["readOnlyRootFilesystem"] = True

    def apply_profile(self, profile: str, spec: dict[str, Any], meta: dict[str, Any]) -> None:
        rng = self.rng
        containers: list[dict[str, Any]] = spec["containers"]
        inits: list[dict[str, Any]] = spec.get("initContainers", [])
        every = inits + containers
        ro = rng.random() < 0.6
        uid = rng.choice((1000, 1001, 10001, 65532, 65534))
        pod_sc: dict[str, Any] = {}
        if profile.startswith("restricted") or profile == "apparmor":
            if profile == "restricted-container":
                for c in every:
                    self._hardened(c, ro)
                    c["securityContext"].update(
                        {"runAsNonRoot": True, "runAsUser": uid, "seccompProfile": {"type": "RuntimeDefault"}}
                    )
            else:
                pod_sc = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
                if rng.random() < 0.7:
                    pod_sc.update({"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid})
                if profile == "restricted-localhost-seccomp":
                    pod_sc["seccompProfile"] = {"type": "Localhost", "localhostProfile": "profiles/audit.json"}
                for c in every:
                    self._hardened(c, ro, "all" if profile == "restricted-drop-lowercase" else "ALL")
                if profile == "restricted-net-bind":
                    containers[0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
                if profile == "restricted-root-init":
                    init = {
                        "name": "fix-permissions",
                        "image": self.image("busybox"),
                        "command": ["sh", "-c", "chown -R 1000:1000 /data"],
                        "securityContext": {
                            "runAsUser": 0,
                            "runAsNonRoot": False,
                            "capabilities": {"add": ["CHOWN", "FOWNER"], "drop": ["ALL"]},
                        },
                    }
                    spec.setdefault("initContainers", []).insert(0, init)
                if profile == "restricted-uid0-sidecar":
                    containers[-1].setdefault("securityContext", {})["runAsUser"] = 0
                if profile == "apparmor":
                    ann = meta.setdefault("annotations", {})
                    for c in containers:
                        ann[f"container.apparmor.security.beta.kubernetes.io/{c['name']}"] = rng.choice(
                            ("runtime/default", "runtime/default", "localhost/k8s-nginx", "unconfined")
                        )
        elif profile == "seccomp-annotation":
            meta.setdefault("annotations", {})["seccomp.security.alpha.kubernetes.io/pod"] = "runtime/default"
            pod_sc = {"runAsUser": uid}
        elif profile == "uid-only":
            pod_sc = {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
            if rng.random() < 0.5:
                for c in containers:
                    c["securityContext"] = {"allowPrivilegeEscalation": False}
        elif profile == "no-escalation-only":
            for c in containers:
                c["securityContext"] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True}
        elif profile == "empty":
            pod_sc = {}
            spec["securityContext"] = {}
            for c in every:
                c["securityContext"] = {}
        elif profile == "root":
            c = containers[0]
            c["securityContext"] = rng.choice(
                ({"runAsUser": 0}, {"runAsNonRoot": False}, {"runAsUser": 0, "runAsGroup": 0})
            )
        elif profile in ("net-admin", "sys-admin"):
            caps = ["NET_ADMIN", "NET_RAW"] if profile == "net-admin" and rng.random() < 0.5 else ["NET_ADMIN"]
            if profile == "sys-admin":
                caps = ["SYS_ADMIN"]
            containers[0]["securityContext"] = {"capabilities": {"add": caps}}
            if profile == "sys-admin":
                containers[0]["securityContext"]["allowPrivilegeEscalation"] = True
        elif profile == "seccomp-unconfined":
            pod_sc = {"runAsNonRoot": True, "runAsUser": uid, "seccompProfile": {"type": "Unconfined"}}
            for c in containers:
                self._hardened(c, ro)
        elif profile == "sysctls":
            pod_sc = {
                "sysctls": [
                    {
                        "name": rng.choice(("net.core.somaxconn", "net.ipv4.ip_local_port_range")),
                        "value": rng.choice(("1024", "1024 65000")),
                    }
                ]
            }
        elif profile == "host-port":
            for p in containers[0].get("ports", [{"containerPort": 8080}]):
                p["hostPort"] = p["containerPort"]
            containers[0].setdefault("ports", [{"containerPort": 8080, "hostPort": 8080}])
        elif profile == "privileged":
            c = containers[0]
            c["image"] = f"docker:{rng.choice(('24.0', '25.0'))}-dind"
            c["securityContext"] = {"privileged": True}
            if rng.random() < 0.4:
                spec.setdefault("volumes", []).append(
                    {"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}
                )
                c.setdefault("volumeMounts", []).append({"name": "docker-sock", "mountPath": "/var/run/docker.sock"})
        if pod_sc:
            spec["securityContext"] = pod_sc

    def node_agent(self, agent: str, spec: dict[str, Any]) -> None:
        rng = self.rng
        c = spec["containers"][0]
        vols = spec.setdefault("volumes", [])
        mounts = c.setdefault("volumeMounts", [])

        def host(name: str, path: str, mount: str, ro: bool = True, **extra: Any) -> None:
            vols.append({"name": name, "hostPath": {"path": path, **extra}})
            mounts.append(
                {"name": name, "mountPath": mount, "readOnly": ro} if ro else {"name": name, "mountPath": mount}
            )

        spec["tolerations"] = [{"operator": "Exists"}]
        spec["priorityClassName"] = "system-node-critical"
        if agent == "cni":
            spec["hostNetwork"] = True
            c["securityContext"] = {"privileged": True, "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN", "NET_RAW"]}}
            host("cni-bin", "/opt/cni/bin", "/host/opt/cni/bin", False)
            host("cni-conf", "/etc/cni/net.d", "/host/etc/cni/net.d", False)
            host("xtables-lock", "/run/xtables.lock", "/run/xtables.lock", False, type="FileOrCreate")
            host("lib-modules", "/lib/modules", "/lib/modules")
        elif agent == "node-exporter":
            spec["hostNetwork"] = True
            spec["hostPID"] = True
            spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 65534, "fsGroup": 65534}
            c["ports"] = [{"name": "metrics", "containerPort": 9100, "hostPort": 9100}]
            c["securityContext"] = {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
            host("proc", "/proc", "/host/proc")
            host("sys", "/sys", "/host/sys")
            host("root", "/", "/host/root")
        elif agent == "log-shipper":
            c["securityContext"] = {"runAsUser": 0}
            if rng.random() < 0.3:
                c["securityContext"]["seLinuxOptions"] = {"type": "spc_t"}
            host("varlog", "/var/log", "/var/log")
            host("containers", "/var/lib/docker/containers", "/var/lib/docker/containers")
            host("state", "/var/lib/fluent-bit", "/var/lib/fluent-bit", False, type="DirectoryOrCreate")
        elif agent == "runtime-security":  # a Sysdig/Falco-style agent
            spec["hostPID"] = True
            spec["hostNetwork"] = rng.random() < 0.5
            spec["hostIPC"] = rng.random() < 0.5
            c["securityContext"] = {"privileged": True}
            host("containerd-sock", "/run/containerd/containerd.sock", "/host/run/containerd/containerd.sock")
            host("proc", "/proc", "/host/proc")
            host("boot", "/boot", "/host/boot")
        elif agent == "csi-node":
            c["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": True}
            host("kubelet-dir", "/var/lib/kubelet", "/var/lib/kubelet", False, type="Directory")
            mounts[-1]["mountPropagation"] = "Bidirectional"
            host("device-dir", "/dev", "/dev", False)
            host("registration-dir", "/var/lib/kubelet/plugins_registry", "/registration", False)
        elif agent == "windows-exporter":
            spec["hostNetwork"] = True
            spec["nodeSelector"] = {"kubernetes.io/os": "windows"}
            spec["securityContext"] = {"windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\system"}}

    # ------------------------------------------------------------------ objects

    @staticmethod
    def meta(name: str, ns: str | None, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
        m: dict[str, Any] = {"name": name}
        if ns is not None:
            m["namespace"] = ns
        if labels:
            m["labels"] = dict(labels)
        m.update(extra)
        return m

    def workload(self, app: App, agent: str = "") -> dict[str, Any]:
        rng = self.rng
        long_running = app.kind not in ("Job", "CronJob")
        port = rng.choice((8080, 8080, 8000, 3000, 9090)) if long_running else None
        containers = [self.container(app, agent or "app", long_running, port)]
        if not agent and rng.random() < 0.25:
            side = rng.choice(("envoy", "log-forwarder", "cloud-sql-proxy", "oauth2-proxy"))
            containers.append(self.container(app, side, long_running, 15000 if side == "envoy" else None))
        spec: dict[str, Any] = {"containers": containers}
        if not agent and rng.random() < 0.18:
            spec["initContainers"] = [self.container(app, "wait-for-deps", False, None)]
            spec["initContainers"][0]["command"] = ["sh", "-c", "until nc -z db 5432; do sleep 2; done"]
        if app.service_account != "default":
            spec["serviceAccountName"] = app.service_account
        elif rng.random() < 0.15:
            spec["serviceAccountName"] = "default"
        if rng.random() < 0.25:
            spec["automountServiceAccountToken"] = False
        if not long_running:
            spec["restartPolicy"] = rng.choice(("OnFailure", "Never"))
        vols: list[dict[str, Any]] = []
        if rng.random() < 0.4:
            vols.append({"name": "config", "configMap": {"name": f"{app.name}-config"}})
            containers[0].setdefault("volumeMounts", []).append({"name": "config", "mountPath": "/etc/app"})
        if rng.random() < 0.3:
            vols.append({"name": "tmp", "emptyDir": {}})
            containers[0].setdefault("volumeMounts", []).append({"name": "tmp", "mountPath": "/tmp"})
        if rng.random() < 0.15:
            vols.append({"name": "creds", "secret": {"secretName": f"{app.name}-creds"}})
        if vols:
            spec["volumes"] = vols
        tmeta: dict[str, Any] = {"labels": dict(app.labels)}
        if rng.random() < 0.3:
            tmeta["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port or 9090)}
        if agent:
            self.node_agent(agent, spec)
        else:
            self.apply_profile(app.profile, spec, tmeta)
        self.stats.containers += len(spec["containers"])
        self.stats.init_containers += len(spec.get("initContainers", []))
        template = {"metadata": tmeta, "spec": spec}
        selector = {"matchLabels": {"app.kubernetes.io/name": app.labels["app.kubernetes.io/name"]}}
        labels = dict(app.labels, **{"app.kubernetes.io/managed-by": rng.choice(("Helm", "kustomize", "argocd"))})
        kind = app.kind
        if kind == "Pod":
            return {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": self.meta(app.name, app.namespace, app.labels, **_ann(tmeta)),
                "spec": spec,
            }
        if kind == "Job":
            body: dict[str, Any] = {"backoffLimit": rng.choice((0, 3, 6)), "template": template}
            return {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": self.meta(app.name, app.namespace, labels),
                "spec": body,
            }
        if kind == "CronJob":
            body = {
                "schedule": rng.choice(("*/5 * * * *", "0 * * * *", "30 2 * * *", "0 6 * * 1")),
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}},
            }
            return {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": self.meta(app.name, app.namespace, labels),
                "spec": body,
            }
        body = {"selector": selector, "template": template}
        if kind in ("Deployment", "StatefulSet"):
            body = {"replicas": app.replicas, **body}
        if kind == "StatefulSet":
            body["serviceName"] = f"{app.name}-headless"
            body["volumeClaimTemplates"] = [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
                }
            ]
            containers[0].setdefault("volumeMounts", []).append({"name": "data", "mountPath": "/data"})
        if kind == "DaemonSet":
            body["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": self.meta(app.name, app.namespace, labels),
            "spec": body,
        }

    def service(self, app: App) -> list[dict[str, Any]]:
        rng = self.rng
        r = rng.random()
        typ = "ClusterIP" if r < 0.82 else ("NodePort" if r < 0.91 else "LoadBalancer")
        port = 22 if app.name.startswith("bastion") else rng.choice((80, 443, 8080))
        svc: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.meta(app.name, app.namespace, app.labels),
            "spec": {
                "type": typ,
                "selector": {"app.kubernetes.io/name": app.labels["app.kubernetes.io/name"]},
                "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
            },
        }
        if typ == "LoadBalancer" and rng.random() < 0.4:
            svc["spec"]["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
        out = [svc]
        if app.kind == "StatefulSet":
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": self.meta(f"{app.name}-headless", app.namespace, app.labels),
                    "spec": {
                        "clusterIP": "None",
                        "selector": {"app.kubernetes.io/name": app.labels["app.kubernetes.io/name"]},
                        "ports": [{"name": "peer", "port": 7000}],
                    },
                }
            )
        return out

    def ingress(self, app: App, cluster: str) -> dict[str, Any]:
        rng = self.rng
        host = f"{app.name}.{cluster}.acme.example"
        ann = {"cert-manager.io/cluster-issuer": "letsencrypt"}
        if rng.random() < 0.04:
            ann["nginx.ingress.kubernetes.io/configuration-snippet"] = "more_set_headers 'X-Frame-Options: DENY';"
        spec: dict[str, Any] = {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": app.name, "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ],
        }
        if rng.random() < 0.7:
            spec["tls"] = [{"hosts": [host], "secretName": f"{app.name}-tls"}]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": self.meta(app.name, app.namespace, app.labels, annotations=ann),
            "spec": spec,
        }

    def configmap(self, app: App) -> dict[str, Any]:
        rng = self.rng
        props = [
            f"server.port={rng.choice((8080, 8000))}",
            "management.endpoints.web.exposure.include=health,info,prometheus",
            f"spring.datasource.url=jdbc:postgresql://{app.name}-db:5432/{app.name.replace('-', '_')}",
            "spring.datasource.username=app",
        ]
        if rng.random() < 0.04:
            props.append("spring.datasource.password=Sup3rS3cret!")
        data = {"application.properties": "\n".join(props) + "\n", "FEATURE_FLAGS": "checkout-v2,fast-search"}
        if rng.random() < 0.02:
            data["REDIS_PASSWORD"] = "redis-pass-2024"
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.meta(f"{app.name}-config", app.namespace, app.labels),
            "data": data,
        }

    def secret(self, app: App) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": self.meta(f"{app.name}-db", app.namespace, app.labels),
            "data": {"username": _b64("app"), "password": _b64(f"{self.rng.getrandbits(64):016x}")},
        }

    def pdb(self, app: App) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "selector": {"matchLabels": {"app.kubernetes.io/name": app.labels["app.kubernetes.io/name"]}}
        }
        if self.rng.random() < 0.5:
            spec["minAvailable"] = 1
        else:
            spec["maxUnavailable"] = "25%"
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": self.meta(app.name, app.namespace, app.labels),
            "spec": spec,
        }

    def hpa(self, app: App) -> dict[str, Any]:
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": self.meta(app.name, app.namespace, app.labels),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": app.kind, "name": app.name},
                "minReplicas": app.replicas,
                "maxReplicas": app.replicas * 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                    }
                ],
            },
        }

    def app_netpol(self, app: App, ingress_ns: str) -> dict[str, Any]:
        rng = self.rng
        sel = {"matchLabels": {"app.kubernetes.io/name": app.labels["app.kubernetes.io/name"]}}
        peers: list[dict[str, Any]]
        if app.web:
            peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_ns}}}]
        else:
            peers = [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": app.namespace}}}]
        if rng.random() < 0.08:
            peers = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": self.meta(f"{app.name}-allow", app.namespace),
            "spec": {
                "podSelector": sel,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": 8080}]}],
            },
        }

    def service_account(self, app: App) -> dict[str, Any]:
        sa: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": self.meta(app.service_account, app.namespace, app.labels),
        }
        if self.rng.random() < 0.3:
            sa["automountServiceAccountToken"] = False
        return sa

    # ------------------------------------------------------------------ per namespace and cluster

    def namespace_files(self, ns: str, cluster: str, platform: bool, app_sas: list[str], ingress_ns: str) -> None:
        rng = self.rng
        base = f"clusters/{cluster}/namespaces/{ns}/_namespace"
        labels = {"kubernetes.io/metadata.name": ns, "team": ns.rsplit("-", 1)[0]}
        r = rng.random()
        if not platform and r < 0.25:
            labels["pod-security.kubernetes.io/enforce"] = "restricted"
            labels["pod-security.kubernetes.io/enforce-version"] = rng.choice(("latest", "v1.29"))
        elif not platform and r < 0.45:
            labels["pod-security.kubernetes.io/enforce"] = "baseline"
            labels["pod-security.kubernetes.io/warn"] = "restricted"
        elif platform:
            labels["pod-security.kubernetes.io/enforce"] = "privileged"
        self.write(
            f"{base}/namespace.yaml",
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}],
        )
        # RBAC: a reader role for the apps, sometimes more
        rules: list[dict[str, Any]] = [
            {
                "apiGroups": [""],
                "resources": ["configmaps", "pods", "services", "endpoints"],
                "verbs": ["get", "list", "watch"],
            }
        ]
        r = rng.random()
        if r < 0.2:
            rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]})
        elif r < 0.3:
            rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
        rbac: list[dict[str, Any]] = [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": self.meta("app-reader", ns),
                "rules": rules,
            }
        ]
        subjects = [{"kind": "ServiceAccount", "name": sa, "namespace": ns} for sa in sorted(set(app_sas))[:6]]
        if rng.random() < 0.1:
            subjects.append({"kind": "ServiceAccount", "name": "default", "namespace": ns})
        if subjects:
            rbac.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": self.meta("app-reader", ns),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-reader"},
                    "subjects": subjects,
                }
            )
        if rng.random() < 0.15:
            rbac.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": self.meta("ci-deployer", ns),
                    "rules": [
                        {
                            "apiGroups": ["apps"],
                            "resources": ["deployments", "statefulsets"],
                            "verbs": ["get", "list", "create", "update", "patch"],
                        },
                        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
                    ],
                }
            )
            rbac.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": self.meta("ci-deployer", ns),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ci-deployer"},
                    "subjects": [
                        {"kind": "Group", "name": f"{ns}-developers", "apiGroup": "rbac.authorization.k8s.io"}
                    ],
                }
            )
        self.write(f"{base}/rbac.yaml", rbac, "multi")
        # NetworkPolicies
        pols: list[dict[str, Any]] = []
        r = rng.random()
        if r < 0.5:
            pols.append(_netpol("default-deny-ingress", ns, {}, ["Ingress"]))
        elif r < 0.65:
            pols.append(_netpol("default-deny-all", ns, {}, ["Ingress", "Egress"]))
            pols.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": self.meta("allow-dns", ns),
                    "spec": {
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                        "egress": [
                            {
                                "to": [
                                    {
                                        "namespaceSelector": {
                                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                        }
                                    }
                                ],
                                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                            }
                        ],
                    },
                }
            )
        if pols:
            self.write(f"{base}/network-policies.yaml", pols, "multi" if len(pols) > 1 else "single")
        if rng.random() < 0.2:
            self.write(
                f"{base}/limitrange.yaml",
                [
                    {
                        "apiVersion": "v1",
                        "kind": "LimitRange",
                        "metadata": self.meta("defaults", ns),
                        "spec": {
                            "limits": [
                                {
                                    "type": "Container",
                                    "default": {"memory": "512Mi"},
                                    "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
                                }
                            ]
                        },
                    }
                ],
            )
        if rng.random() < 0.3:
            self.write(
                f"{base}/quota.yaml",
                [
                    {
                        "apiVersion": "v1",
                        "kind": "ResourceQuota",
                        "metadata": self.meta("compute", ns),
                        "spec": {
                            "hard": {
                                "requests.cpu": "20",
                                "requests.memory": "64Gi",
                                "limits.memory": "128Gi",
                                "pods": "200",
                            }
                        },
                    }
                ],
            )

    def cluster_files(self, cluster: str) -> None:
        rng = self.rng
        base = f"clusters/{cluster}/cluster"
        api = "rbac.authorization.k8s.io/v1"

        def crole(name: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {"apiVersion": api, "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules, **extra}

        def crb(name: str, role: str, subjects: list[dict[str, Any]]) -> dict[str, Any]:
            return {
                "apiVersion": api,
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": subjects,
            }

        def sa(name: str, ns: str) -> dict[str, Any]:
            return {"kind": "ServiceAccount", "name": name, "namespace": ns}

        read = ["get", "list", "watch"]
        ops = f"ops-{cluster}"
        files = {
            "prometheus.yaml": [
                crole(
                    "prometheus",
                    [
                        {
                            "apiGroups": [""],
                            "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"],
                            "verbs": read,
                        },
                        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                    ],
                ),
                crb("prometheus", "prometheus", [sa("prometheus", f"monitoring-{cluster}")]),
            ],
            "ingress-nginx.yaml": [
                crole(
                    "ingress-nginx",
                    [
                        {
                            "apiGroups": [""],
                            "resources": ["configmaps", "endpoints", "nodes", "pods", "secrets", "namespaces"],
                            "verbs": ["list", "watch"],
                        },
                        {
                            "apiGroups": ["networking.k8s.io"],
                            "resources": ["ingresses", "ingressclasses"],
                            "verbs": read,
                        },
                    ],
                ),
                crb("ingress-nginx", "ingress-nginx", [sa("ingress-nginx", f"ingress-{cluster}")]),
            ],
            "cert-manager.yaml": [
                crole(
                    "cert-manager-controller",
                    [
                        {
                            "apiGroups": [""],
                            "resources": ["secrets"],
                            "verbs": ["get", "list", "watch", "create", "update", "delete"],
                        },
                        {
                            "apiGroups": ["cert-manager.io"],
                            "resources": ["certificates", "issuers", "clusterissuers"],
                            "verbs": ["*"],
                        },
                    ],
                ),
                crb("cert-manager-controller", "cert-manager-controller", [sa("cert-manager", ops)]),
            ],
            "argocd.yaml": [
                crole(
                    "argocd-application-controller",
                    [
                        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                        {"nonResourceURLs": ["*"], "verbs": ["*"]},
                    ],
                ),
                crb(
                    "argocd-application-controller",
                    "argocd-application-controller",
                    [sa("argocd-application-controller", ops)],
                ),
            ],
            "ci.yaml": [crb("ci-deployer-admin", "cluster-admin", [sa("ci-deployer", ops)])],
            "view-aggregate.yaml": [
                crole(
                    "monitoring-view",
                    [],
                    aggregationRule={
                        "clusterRoleSelectors": [{"matchLabels": {"rbac.acme.example/aggregate-to-monitoring": "true"}}]
                    },
                ),
                crole(
                    "monitoring-view-pods",
                    [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": read}],
                    metadata={
                        "name": "monitoring-view-pods",
                        "labels": {"rbac.acme.example/aggregate-to-monitoring": "true"},
                    },
                ),
                crb(
                    "sre-monitoring-view",
                    "monitoring-view",
                    [{"kind": "Group", "name": "sre", "apiGroup": "rbac.authorization.k8s.io"}],
                ),
            ],
            "node-agents.yaml": [
                crole(
                    "node-agent", [{"apiGroups": [""], "resources": ["nodes", "nodes/proxy", "pods"], "verbs": read}]
                ),
                crb("node-agent", "node-agent", [sa("node-agent", ops)]),
            ],
            "rbac-manager.yaml": [
                crole(
                    "rbac-manager",
                    [
                        {
                            "apiGroups": ["rbac.authorization.k8s.io"],
                            "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
                            "verbs": ["get", "list", "create", "update", "bind", "escalate"],
                        }
                    ],
                ),
                crb("rbac-manager", "rbac-manager", [sa("rbac-manager", ops)]),
            ],
        }
        if rng.random() < 0.4:
            files["dashboards.yaml"] = [
                crb(
                    "authenticated-view",
                    "view",
                    [{"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}],
                )
            ]
        if rng.random() < 0.3:
            files["webhook-admin.yaml"] = [
                crole(
                    "webhook-admin",
                    [
                        {
                            "apiGroups": ["admissionregistration.k8s.io"],
                            "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
                            "verbs": ["*"],
                        }
                    ],
                ),
                crb("webhook-admin", "webhook-admin", [sa("policy-controller", ops)]),
            ]
        for name, objs in files.items():
            self.write(f"{base}/{name}", objs, "multi" if len(objs) > 1 else "single")
        self.write(
            f"{base}/priority-classes.yaml",
            [
                {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": "batch-low"},
                    "value": 100,
                }
            ],
        )

    def app_files(self, app: App, cluster: str, ingress_ns: str, agent: str = "") -> None:
        rng = self.rng
        objs: list[dict[str, Any]] = []
        if app.service_account != "default":
            objs.append(self.service_account(app))
        if rng.random() < 0.45 and not agent:
            objs.append(self.configmap(app))
        if rng.random() < 0.35 and not agent:
            objs.append(self.secret(app))
        wl = self.workload(app, agent)
        objs.append(wl)
        if app.kind in ("Deployment", "StatefulSet", "Pod") and not agent:
            objs.extend(self.service(app))
            if app.web:
                objs.append(self.ingress(app, cluster))
        if app.kind in ("Deployment", "StatefulSet") and app.replicas >= 2 and rng.random() < 0.6:
            objs.append(self.pdb(app))
        if app.kind == "Deployment" and rng.random() < 0.2:
            objs.append(self.hpa(app))
        if not agent and rng.random() < 0.3:
            objs.append(self.app_netpol(app, ingress_ns))
        r = rng.random()
        base = f"clusters/{cluster}/namespaces/{app.namespace}/{app.name}"
        if r < 0.18:  # helm template output: one multi-document file with "# Source:" headers
            header = f"# Source: {app.name}/templates/all.yaml\n"
            self.write(f"{base}/rendered.yaml", objs, "multi", header)
        elif r < 0.23:
            self.write(f"{base}/list.yaml", objs, "list")
        else:
            for o in objs:
                fname = _file_name(o)
                if rng.random() < 0.04:
                    self.write(f"{base}/{fname}.json", [o], "json")
                else:
                    self.write(f"{base}/{fname}.{'yml' if rng.random() < 0.15 else 'yaml'}", [o])
        self.stats.apps += 1
        self.stats.workloads[app.kind] += 1
        self.stats.profiles[agent or app.profile] += 1
        self.stats.profile_of[f"{app.kind}|{app.namespace}|{app.name}"] = agent or app.profile

    # ------------------------------------------------------------------ the whole tree

    def generate(self, min_files: int) -> Tree:
        rng = self.rng
        for cluster in CLUSTERS:
            self.cluster_files(cluster)
        teams = list(TEAMS)
        used: set[str] = set()
        i = 0
        while self.n_files < min_files:
            cluster = CLUSTERS[i % len(CLUSTERS)]
            ingress_ns = f"ingress-{cluster}"
            if i < len(CLUSTERS):  # every cluster's platform namespaces first
                self.platform(cluster)
                i += 1
                continue
            team = teams[(i - len(CLUSTERS)) % len(teams)]
            ns = f"{team}-{cluster}"
            i += 1
            if ns in used:
                continue
            used.add(ns)
            self.stats.namespaces += 1
            apps: list[App] = []
            for _ in range(rng.randint(3, 9)):
                word = rng.choice(APP_WORDS)
                name = f"{team}-{word}"
                while any(a.name == name for a in apps):
                    name = f"{team}-{word}-{rng.randint(2, 99)}"
                if rng.random() < 0.01:
                    name = f"bastion-{team}"
                kind = _choice(
                    rng,
                    (
                        ("Deployment", 62),
                        ("StatefulSet", 10),
                        ("CronJob", 12),
                        ("Job", 6),
                        ("Pod", 4),
                        ("DaemonSet", 2),
                    ),
                )
                replicas = rng.choice((1, 2, 2, 3, 3, 4, 6)) if kind in ("Deployment", "StatefulSet") else 1
                sa = f"{name}" if rng.random() < 0.6 else "default"
                labels = {
                    "app.kubernetes.io/name": name,
                    "app.kubernetes.io/part-of": ns,
                    "app.kubernetes.io/version": f"{rng.randint(1, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
                }
                apps.append(
                    App(
                        name,
                        ns,
                        kind,
                        _choice(rng, PROFILES),
                        replicas,
                        word in ("web", "frontend", "api", "gateway"),
                        sa,
                        labels,
                    )
                )
            self.namespace_files(
                ns, cluster, False, [a.service_account for a in apps if a.service_account != "default"], ingress_ns
            )
            for a in apps:
                self.app_files(a, cluster, ingress_ns)
        return self.stats

    def platform(self, cluster: str) -> None:
        """monitoring, logging, ingress and ops namespaces, with the node agents."""
        rng = self.rng
        for team in ("monitoring", "logging", "ingress", "ops"):
            ns = f"{team}-{cluster}"
            self.stats.namespaces += 1
            apps: list[tuple[App, str]] = []
            labels = {"app.kubernetes.io/part-of": ns}
            if team == "monitoring":
                for agent in ("node-exporter", "cni"):
                    apps.append(
                        (
                            App(
                                f"{agent}-{cluster}",
                                ns,
                                "DaemonSet",
                                "",
                                1,
                                False,
                                "node-agent",
                                {**labels, "app.kubernetes.io/name": agent},
                            ),
                            agent,
                        )
                    )
                if cluster == "ops":
                    agent = "windows-exporter"
                    apps.append(
                        (
                            App(
                                f"{agent}-{cluster}",
                                ns,
                                "DaemonSet",
                                "",
                                1,
                                False,
                                "node-agent",
                                {**labels, "app.kubernetes.io/name": agent},
                            ),
                            agent,
                        )
                    )
                for name in ("prometheus", "alertmanager", "grafana", "kube-state-metrics"):
                    kind = "StatefulSet" if name in ("prometheus", "alertmanager") else "Deployment"
                    apps.append(
                        (
                            App(
                                name,
                                ns,
                                kind,
                                _choice(rng, PROFILES),
                                2,
                                name == "grafana",
                                name if name == "prometheus" else "default",
                                {**labels, "app.kubernetes.io/name": name},
                            ),
                            "",
                        )
                    )
            elif team == "logging":
                agent = "log-shipper"
                apps.append(
                    (
                        App(
                            f"fluent-bit-{cluster}",
                            ns,
                            "DaemonSet",
                            "",
                            1,
                            False,
                            "node-agent",
                            {**labels, "app.kubernetes.io/name": "fluent-bit"},
                        ),
                        agent,
                    )
                )
                apps.append(
                    (
                        App(
                            "loki",
                            ns,
                            "StatefulSet",
                            _choice(rng, PROFILES),
                            3,
                            False,
                            "default",
                            {**labels, "app.kubernetes.io/name": "loki"},
                        ),
                        "",
                    )
                )
            elif team == "ingress":
                apps.append(
                    (
                        App(
                            "ingress-nginx-controller",
                            ns,
                            "Deployment",
                            "host-port",
                            3,
                            False,
                            "ingress-nginx",
                            {**labels, "app.kubernetes.io/name": "ingress-nginx"},
                        ),
                        "",
                    )
                )
            else:
                for agent in ("runtime-security", "csi-node"):
                    apps.append(
                        (
                            App(
                                f"{agent}-{cluster}",
                                ns,
                                "DaemonSet",
                                "",
                                1,
                                False,
                                "node-agent",
                                {**labels, "app.kubernetes.io/name": agent},
                            ),
                            agent,
                        )
                    )
                for name in ("argocd-application-controller", "cert-manager", "ci-runner"):
                    prof = "privileged" if name == "ci-runner" else _choice(rng, PROFILES)
                    apps.append(
                        (
                            App(
                                name, ns, "Deployment", prof, 1, False, name, {**labels, "app.kubernetes.io/name": name}
                            ),
                            "",
                        )
                    )
            self.namespace_files(ns, cluster, True, [a.service_account for a, _ in apps], f"ingress-{cluster}")
            for app, agent in apps:
                self.app_files(app, cluster, f"ingress-{cluster}", agent)


_YAML: dict[str, Any] = {"sort_keys": False, "default_flow_style": False, "width": 200, "allow_unicode": True}


def _ann(tmeta: Mapping[str, Any]) -> dict[str, Any]:
    return {"annotations": dict(tmeta["annotations"])} if tmeta.get("annotations") else {}


def _netpol(name: str, ns: str, selector: dict[str, Any], types: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": selector, "policyTypes": types},
    }


def _file_name(obj: Mapping[str, Any]) -> str:
    kind = str(obj["kind"])
    short = {
        "HorizontalPodAutoscaler": "hpa",
        "PodDisruptionBudget": "pdb",
        "NetworkPolicy": "networkpolicy",
        "ServiceAccount": "serviceaccount",
    }.get(kind, kind.lower())
    name = str(obj["metadata"]["name"])
    return f"{short}-{name.rsplit('-', 1)[-1]}" if kind == "Service" and name.endswith("-headless") else short


def manifest_tree(min_files: int) -> tuple[Path, dict[str, Any]]:
    """The generated tree (cached) and its composition."""
    root = WORK / f"tree-v{GENERATOR_VERSION}-seed{SEED}-{min_files}"
    info = root.parent / f"{root.name}.json"
    if root.is_dir() and info.is_file():
        return root, json.loads(info.read_text())
    tmp = root.parent / f"{root.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    stats = Generator(tmp, SEED).generate(min_files)
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    comp = {
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "files": sum(stats.files.values()),
        "file_styles": dict(stats.files),
        "objects": sum(stats.objects.values()),
        "objects_by_kind": dict(stats.objects.most_common()),
        "namespaces": stats.namespaces,
        "workloads": dict(stats.workloads.most_common()),
        "pod_templates_by_profile": dict(stats.profiles.most_common()),
        "containers": stats.containers,
        "init_containers": stats.init_containers,
        "bytes": sum(f.stat().st_size for f in root.rglob("*") if f.is_file()),
        "generated_in_s": round(time.perf_counter() - t0, 2),
        "profile_of": stats.profile_of,
    }
    info.write_text(json.dumps(comp, indent=2))
    return root, comp


# ============================================================================================ commands


def ours_cmd(tree: Path, out: Path, command: str = "k8s", scanners: str = "misconfig") -> list[str]:
    """Ours as timed: `--scanners misconfig` is the job checkov's kubernetes framework does (it
    scans no secrets); the default adds the secret scan of every manifest and is timed apart."""
    return [tool("customhouse"), command, str(tree), "-f", "json", "-o", str(out), "-q", "--scanners", scanners]


def checkov_cmd(tree: Path) -> list[str]:
    return [
        peer("checkov"),
        "-d",
        str(tree),
        "--framework",
        "kubernetes",
        "-o",
        "json",
        "--quiet",
        "--soft-fail",
        "--skip-download",
    ]


def versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **CHECKOV_ENV}, check=False)
        text = (r.stdout or r.stderr).strip()
        return text.splitlines()[0] if text else "?"

    return {
        "customhouse": first_line([tool("customhouse"), "--version"]),
        "checkov": first_line([peer("checkov"), "--version"]),
        "python": sys.version.split()[0],
    }


def verify_offline(tree: Path) -> dict[str, Any]:
    """Run checkov once under strace on one namespace of the tree: every connect(2) it attempts.

    checkov's network calls (version check, policy metadata, guidelines) happen once per run
    whatever the tree, so a small subtree shows them; AF_UNIX connects (nscd) are not network."""
    if not shutil.which("strace"):
        return {"checked": False, "why": "strace not installed"}
    sub = next(p for p in sorted((tree / "clusters").glob("*/namespaces/*")) if p.is_dir())
    log = WORK / "checkov-strace.log"
    cmd = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(log), *checkov_cmd(sub)]
    t0 = time.perf_counter()
    subprocess.run(
        cmd, env={**os.environ, **CHECKOV_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    lines = [ln for ln in log.read_text().splitlines() if "connect(" in ln]
    inet = [ln.split(" ", 1)[1][:160] for ln in lines if "AF_INET" in ln]
    return {
        "checked": True,
        "subtree": str(sub.relative_to(tree)),
        "seconds": round(time.perf_counter() - t0, 1),
        "connects": len(lines),
        "network_connects": inet,
    }


# ============================================================================================ timing


def timing(tree: Path, runs: int) -> tuple[dict[str, Result], dict[str, Any]]:
    cmds = {
        "ours": (ours_cmd(tree, WORK / "ours.json"), {}, None),
        "checkov": (checkov_cmd(tree), CHECKOV_ENV, WORK / "checkov.json"),
        "ours_default": (ours_cmd(tree, WORK / "ours-default.json", scanners="misconfig,secret"), {}, None),
        "ours_config": (ours_cmd(tree, WORK / "ours-config.json", "config"), {}, None),
    }
    results = interleaved(cmds, runs)
    names = {
        "ours": "customhouse k8s TREE -f json --scanners misconfig",
        "checkov": "checkov -d TREE --framework kubernetes -o json",
        "ours_default": "customhouse k8s TREE -f json (default: + secret scan; info)",
        "ours_config": "customhouse config TREE -f json --scanners misconfig (info)",
    }
    for k, r in results.items():
        r.name = names[k]
    med = {k: r.median for k, r in results.items()}
    ratios = {
        "vs_checkov": med["checkov"] / med["ours"],
        "default_vs_checkov": med["checkov"] / med["ours_default"],
        "config_vs_checkov": med["checkov"] / med["ours_config"],
    }
    met = {
        "vs_checkov": ratios["vs_checkov"] >= TARGETS["vs_checkov"],
        "peak_mb": results["ours"].peak_mb < TARGETS["peak_mb"],
    }
    summary = {
        "timings": {
            k: {
                "name": v.name,
                "median": v.median,
                "best": v.best,
                "peak_mb": v.peak_mb,
                "runs": len(v.samples),
                "samples": [round(x.seconds, 3) for x in v.samples],
                "peak_mb_samples": [round(x.max_rss_mb, 1) for x in v.samples],
            }
            for k, v in results.items()
        },
        "ratios": ratios,
        "met": met,
    }
    return results, summary


# ============================================================================================ PSS rate


def _read_tree(tree: Path) -> list[tuple[str, str]]:
    from customhouse.misconfig.runner import iter_files

    return [(rel, Path(full).read_text()) for full, rel in iter_files(tree)]


def _templates(texts: list[tuple[str, str]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(spec, metadata) of every pod template, through our parser (as `customhouse k8s` reads them)."""
    from customhouse.misconfig.engine import Document
    from customhouse.misconfig.k8s.objects import load_objects, pod_templates
    from customhouse.misconfig.parsers import parse_yaml

    docs = [Document(path=rel, file_type="kubernetes", text=text, data=parse_yaml(text, rel)) for rel, text in texts]
    return [(t.spec, t.metadata) for obj in load_objects(docs) for t in pod_templates(obj)]


def pss_rate(tree: Path, rounds: int, files: int) -> dict[str, Any]:
    """customhouse.misconfig.k8s.pss.evaluate over every pod template of the tree, in this process.

    - evaluation only: templates already parsed (the evaluator's own speed);
    - parse included: from the files' text in memory (page cache warm, files read each round) to the
      results: YAML with positions, objects, templates, evaluation;
    - engine: the 19 CH-K8S-PSS checks through runner.run_checks on the parsed documents (findings
      with lines, snippets and fixes built; the other checks skipped).
    """
    from customhouse.misconfig.engine import Document, Options, checks_for
    from customhouse.misconfig.k8s import pss
    from customhouse.misconfig.parsers import parse_yaml
    from customhouse.misconfig.runner import run_checks

    texts = _read_tree(tree)
    templates = _templates(texts)
    level, version = "restricted", "latest"
    failing = sum(1 for spec, meta in templates if pss.evaluate(spec, meta, level, version))

    def evaluate_all() -> None:
        for spec, meta in templates:
            pss.evaluate(spec, meta, level, version)

    def parse_and_evaluate() -> None:
        for spec, meta in _templates(_read_tree(tree)):
            pss.evaluate(spec, meta, level, version)

    docs = [Document(path=rel, file_type="kubernetes", text=text, data=parse_yaml(text, rel)) for rel, text in texts]
    skip = [c.meta.id for c in checks_for("kubernetes") if not c.meta.id.startswith("CH-K8S-PSS-")]
    opts = Options(extra={"pss_level": level, "pss_version": version})

    def engine() -> None:
        for d in docs:
            run_checks(d, opts, skip)

    out: dict[str, Any] = {"templates": len(templates), "failing_templates": failing, "files": files}
    for name, fn in (("evaluate_only", evaluate_all), ("parse_included", parse_and_evaluate), ("engine", engine)):
        secs = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            secs.append(time.perf_counter() - t0)
        med = statistics.median(secs)
        out[name] = {
            "median_s": med,
            "best_s": min(secs),
            "templates_per_s": len(templates) / med,
            "files_per_s": files / med,
        }
    out["met"] = {
        "evaluate_only": out["evaluate_only"]["templates_per_s"] >= TARGETS["pss_per_second"],
        "parse_included": out["parse_included"]["templates_per_s"] >= TARGETS["pss_per_second"],
    }
    return out


# ============================================================================================ findings

Key = tuple[str, str, str, str]  # file (relative to the tree), kind, namespace, name


def our_hits(doc: Mapping[str, Any]) -> dict[str, dict[Key, list[str]]]:
    """check id -> resource -> messages, unsuppressed findings of our JSON report."""
    out: dict[str, dict[Key, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in doc.get("findings", []):
        if f.get("suppressed"):
            continue
        loc = f["location"]
        key = (
            loc["path"],
            loc.get("resource_kind", ""),
            loc.get("resource_namespace", ""),
            loc.get("resource_name", ""),
        )
        out[f["id"]][key].append(f.get("message", ""))
    return out


def checkov_hits(doc: Any) -> tuple[dict[str, set[Key]], dict[str, str]]:
    """check id -> resources it failed; check id -> its name."""
    out: dict[str, set[Key]] = defaultdict(set)
    names: dict[str, str] = {}
    for rep in checkov_reports(doc):
        if rep.get("check_type") != "kubernetes":
            continue
        results: Any = rep.get("results") or {}
        for f in results.get("failed_checks", []):
            kind, _, rest = str(f["resource"]).partition(".")
            ns, _, name = rest.partition(".")
            out[f["check_id"]].add((str(f["file_path"]).lstrip("/"), kind, ns, name))
            names[f["check_id"]] = f.get("check_name", "")
    return out, names


def family(check_id: str) -> str:
    if check_id.startswith("CH-K8S-PSS-"):
        return "Pod Security Standards (CH-K8S-PSS-*)"
    if check_id.startswith("CH-K8S-RBAC-"):
        return "RBAC (CH-K8S-RBAC-*)"
    if check_id.startswith("CH-K8S-NP-"):
        return "NetworkPolicy (CH-K8S-NP-*)"
    if check_id.startswith("CH-K8S-"):
        return "workload hardening (CH-K8S-0xx)"
    return "secrets (secret scanner rules)"


# ----------------------------------------------------------------------- the manifests, read independently


def read_objects(tree: Path) -> dict[Key, dict[str, Any]]:
    """Every object of the tree by (file, kind, namespace, name), read with plain PyYAML (not our
    parser), to explain disagreements from the manifests themselves."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[Key, dict[str, Any]] = {}
    for p in sorted(tree.rglob("*")):
        if not p.is_file() or p.suffix not in (".yaml", ".yml", ".json"):
            continue
        rel = str(p.relative_to(tree))
        for doc in yaml.load_all(p.read_text(), Loader=loader):
            items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
            for o in items:
                if isinstance(o, dict) and o.get("kind"):
                    m = o.get("metadata") or {}
                    ns = m.get("namespace") or (
                        "default"
                        if o["kind"] not in ("ClusterRole", "ClusterRoleBinding", "Namespace", "PriorityClass")
                        else ""
                    )
                    out[(rel, o["kind"], ns, m.get("name", ""))] = o
    return out


_SPEC_PATHS = {
    "Pod": ("spec",),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_spec(obj: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod spec, pod metadata) of a workload object."""
    path = _SPEC_PATHS.get(str(obj.get("kind")), ("spec", "template", "spec"))
    cur: Any = obj
    for k in path:
        cur = cur.get(k) if isinstance(cur, dict) else None
    meta: Any = obj.get("metadata") if obj.get("kind") == "Pod" else _dig(obj, (*path[:-1], "metadata"))
    return (cur if isinstance(cur, dict) else {}), (meta if isinstance(meta, dict) else {})


def _dig(v: Any, keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return v


def _sc(x: Mapping[str, Any]) -> dict[str, Any]:
    sc = x.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _containers(spec: Mapping[str, Any], *fields: str) -> list[dict[str, Any]]:
    return [c for f in fields or ("initContainers", "containers") for c in spec.get(f) or [] if isinstance(c, dict)]


# ----------------------------------------------------------------------- why the tools disagree
#
# Each function looks at one resource only one tool flags and returns the reason, checked on the
# manifest; "" when none of the known reasons applies (reported as unexplained). The reasons are
# the documented behaviour of each side: checkov's check sources (checkov/kubernetes/checks/
# resource/k8s/*.py in checkov 3.3) and the Pod Security Standards as docs/kubernetes.md states them.

Explain = Callable[[str, dict[str, Any], dict[str, Any], str], str]  # (kind, pod spec, pod metadata, side)


def _why_root(kind: str, spec: dict[str, Any], meta: dict[str, Any], side: str) -> str:
    pod = _sc(spec)
    if side == "us":
        inits = _containers(spec, "initContainers")
        if any(_sc(c).get("runAsNonRoot") is False for c in inits) and pod.get("runAsNonRoot") is True:
            return "an init container sets runAsNonRoot: false; checkov's CKV_K8S_23 reads `containers` only"
        uid_set = isinstance(pod.get("runAsUser"), int) and pod["runAsUser"] > 0
        uid_set = uid_set or all(
            isinstance(_sc(c).get("runAsUser"), int) and _sc(c)["runAsUser"] > 0
            for c in _containers(spec, "containers")
        )
        if uid_set and pod.get("runAsNonRoot") is not True:
            return "runAsUser > 0 without runAsNonRoot: true: checkov accepts the UID, PSS requires runAsNonRoot"
        if pod.get("runAsNonRoot") is not True and any(
            _sc(c).get("runAsNonRoot") is not True for c in _containers(spec, "initContainers")
        ):
            return "an init container without runAsNonRoot; checkov's CKV_K8S_23 reads `containers` only"
    return ""


def _why_seccomp(kind: str, spec: dict[str, Any], meta: dict[str, Any], side: str) -> str:
    pod = _dig(_sc(spec), ("seccompProfile", "type"))
    ctypes = [_dig(_sc(c), ("seccompProfile", "type")) for c in _containers(spec, "containers")]
    if side == "checkov":
        if pod == "Localhost" or "Localhost" in ctypes:
            return "a Localhost seccomp profile: PSS allows it, CKV_K8S_31 accepts only RuntimeDefault"
        if kind == "CronJob" and pod is None and ctypes and all(t == "RuntimeDefault" for t in ctypes):
            return "a CronJob with RuntimeDefault on every container: for CronJobs checkov reads only the pod level"
    if side == "us":
        ann = (meta.get("annotations") or {}).get("seccomp.security.alpha.kubernetes.io/pod")
        if ann in ("runtime/default", "docker/default") and pod is None:
            return "only the seccomp alpha annotation: checkov accepts it, PSS reads only the field from v1.19"
        inits = _containers(spec, "initContainers")
        if pod is None and all(t == "RuntimeDefault" for t in ctypes) and inits:
            return "init containers without a profile; checkov's CKV_K8S_31 reads `containers` only"
    return ""


def _why_drop(kind: str, spec: dict[str, Any], meta: dict[str, Any], side: str) -> str:
    if side == "us":
        for c in _containers(spec):
            drop = _dig(_sc(c), ("capabilities", "drop")) or []
            if "ALL" not in drop and any("all" in str(d) or "ALL" in str(d) for d in drop):
                return "`drop: [all]` (lower case): checkov matches a substring, PSS and the runtime want exactly ALL"
    return ""


def _why_add(kind: str, spec: dict[str, Any], meta: dict[str, Any], side: str) -> str:
    if side == "checkov":
        added = {str(a) for c in _containers(spec) for a in _dig(_sc(c), ("capabilities", "add")) or []}
        if added == {"NET_BIND_SERVICE"}:
            return "adds only NET_BIND_SERVICE, which restricted allows; CKV_K8S_25 fails any added capability"
    return ""


def _why_uid(kind: str, spec: dict[str, Any], meta: dict[str, Any], side: str) -> str:
    pod = _sc(spec).get("runAsUser")
    uids = [_sc(c).get("runAsUser") for c in _containers(spec, "containers")]
    if side == "checkov":
        if 0 not in (pod, *uids) and any(isinstance(u, int) and 0 < u < 10000 for u in (pod, *uids)):
            return "a UID between 1 and 9999: CKV_K8S_40 wants >= 10000, PSS only forbids 0"
        if 0 not in (pod, *uids):
            return (
                "no UID set anywhere (the image decides): CKV_K8S_40 fails it, PSS runAsUser only forbids an explicit 0"
            )
    if side == "us" and any(_sc(c).get("runAsUser") == 0 for c in _containers(spec, "initContainers")):
        return "an init container runs as UID 0; checkov's CKV_K8S_40 reads `containers` only"
    return ""


def _why_socket(kind: str, spec: dict[str, Any], meta: dict[str, Any], side: str) -> str:
    paths = {str(_dig(v, ("hostPath", "path"))) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    if side == "us" and "/var/run/docker.sock" not in paths and any(p.endswith(".sock") for p in paths):
        return "another runtime's socket (containerd, CRI-O): CKV_K8S_27 matches only /var/run/docker.sock"
    return ""


@dataclass(frozen=True)
class Mapping_:
    """A checkov check and the check(s) of ours that mean the same thing, on one resource.

    `only`: a substring our finding's message must contain, when one check of ours covers several
    of checkov's (hostNetwork/hostPID/hostIPC; dropping ALL vs adding capabilities)."""

    ours: tuple[str, ...]
    meaning: str
    only: str = ""
    explain: Explain | None = None
    note: str = ""


# checkov's Kubernetes checks that correspond to Pod Security Standards controls. Check meanings
# are from checkov's policy index (`checkov -l --framework kubernetes`) and the check sources;
# ours from docs/kubernetes.md. At --pss-level restricted (the default) the restricted checks
# replace their baseline counterparts (capabilities, seccomp), so those are the ones compared.
PSS_MAP: dict[str, Mapping_] = {
    "CKV_K8S_16": Mapping_(("CH-K8S-PSS-003",), "privileged container"),
    "CKV_K8S_17": Mapping_(("CH-K8S-PSS-002",), "hostPID", only="hostPID"),
    "CKV_K8S_18": Mapping_(("CH-K8S-PSS-002",), "hostIPC", only="hostIPC"),
    "CKV_K8S_19": Mapping_(("CH-K8S-PSS-002",), "hostNetwork", only="hostNetwork"),
    "CKV_K8S_20": Mapping_(("CH-K8S-PSS-014",), "allowPrivilegeEscalation not false"),
    "CKV_K8S_23": Mapping_(("CH-K8S-PSS-015",), "root containers / runAsNonRoot", explain=_why_root),
    "CKV_K8S_25": Mapping_(("CH-K8S-PSS-018",), "capabilities added", only="adds capability", explain=_why_add),
    "CKV_K8S_37": Mapping_(("CH-K8S-PSS-018",), "capabilities not dropped (ALL)", only="drop", explain=_why_drop),
    "CKV_K8S_39": Mapping_(("CH-K8S-PSS-018",), "CAP_SYS_ADMIN added", only="SYS_ADMIN"),
    "CKV_K8S_26": Mapping_(("CH-K8S-PSS-006",), "hostPort"),
    "CKV_K8S_31": Mapping_(("CH-K8S-PSS-017",), "seccomp profile RuntimeDefault", explain=_why_seccomp),
    "CKV_K8S_40": Mapping_(
        ("CH-K8S-PSS-016",),
        "UID (checkov: >= 10000; PSS: not 0)",
        explain=_why_uid,
        note="not the same control: checkov asks for a high UID, PSS forbids only UID 0",
    ),
    "CKV_K8S_27": Mapping_(
        ("CH-K8S-013",),
        "container runtime socket mounted",
        explain=_why_socket,
        note="ours is a hardening check: PSS forbids every hostPath (CH-K8S-PSS-013 at restricted)",
    ),
}
# PSS controls checkov has no check for (from its policy index); counted on the tree for the table.
PSS_UNMAPPED = {
    "CH-K8S-PSS-001": "windowsHostProcess",
    "CH-K8S-PSS-007": "appArmorProfile",
    "CH-K8S-PSS-008": "seLinuxOptions",
    "CH-K8S-PSS-009": "procMount",
    "CH-K8S-PSS-011": "sysctls",
    "CH-K8S-PSS-012": "hostProbesAndHostLifecycle",
    "CH-K8S-PSS-013": "restrictedVolumes (hostPath and other volume types; replaces baseline hostPathVolumes)",
    "CH-K8S-PSS-019": "procMount_restricted",
}


@dataclass
class Row:
    rule: str
    meaning: str
    ours: tuple[str, ...]
    checkov: int  # resources checkov fails
    us: int  # resources we flag with the mapped check(s)
    both: int
    only_checkov: int
    only_us: int
    reasons: dict[str, int] = field(default_factory=dict)  # "only checkov: why" / "only us: why" -> resources
    note: str = ""
    examples: list[str] = field(default_factory=list)


def compare(
    ours: dict[str, dict[Key, list[str]]], theirs: dict[str, set[Key]], objects: dict[Key, dict[str, Any]]
) -> list[Row]:
    rows = []
    for rule, m in PSS_MAP.items():
        t = theirs.get(rule, set())
        o = {
            k for cid in m.ours for k, msgs in ours.get(cid, {}).items() if not m.only or any(m.only in x for x in msgs)
        }
        both = t & o
        reasons: Counter[str] = Counter()
        examples = []
        for side, keys in (("checkov", t - o), ("us", o - t)):
            for k in sorted(keys):
                obj = objects.get(k)
                why = ""
                if obj is not None and m.explain is not None:
                    spec, meta = pod_spec(obj)
                    why = m.explain(str(obj.get("kind")), spec, meta, side)
                reasons[f"only {side}: {why or 'unexplained'}"] += 1
                if not why:
                    examples.append(f"only {side}: {k[0]} {k[1]}/{k[2]}/{k[3]}")
        rows.append(
            Row(
                rule,
                m.meaning,
                m.ours,
                len(t),
                len(o),
                len(both),
                len(t - o),
                len(o - t),
                dict(reasons),
                m.note,
                examples,
            )
        )
    return rows


def markdown_pss_table(rows: list[Row]) -> str:
    out = [
        "| checkov check | meaning | our check | checkov fails | we flag | both | only checkov | only us "
        "| why they differ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        why = "; ".join(f"{k} ({v})" for k, v in sorted(r.reasons.items(), key=lambda kv: -kv[1]))
        if r.note:
            why = f"{r.note}. {why}" if why else r.note
        out.append(
            f"| {r.rule} | {r.meaning} | {', '.join(r.ours)} | {r.checkov} | {r.us} | {r.both} | "
            f"{r.only_checkov} | {r.only_us} | {why or 'agree'} |"
        )
    return "\n".join(out)


def findings_summary(
    ours: dict[str, dict[Key, list[str]]], theirs: dict[str, set[Key]], names: dict[str, str]
) -> dict[str, Any]:
    fam: dict[str, dict[str, int]] = defaultdict(lambda: {"checks": 0, "findings": 0, "resources": 0})
    resources: dict[str, set[Key]] = defaultdict(set)
    for cid, by_res in ours.items():
        f = fam[family(cid)]
        f["checks"] += 1
        f["findings"] += sum(len(v) for v in by_res.values())
        resources[family(cid)].update(by_res)
    for k, v in resources.items():
        fam[k]["resources"] = len(v)
    per_check = {
        cid: {"findings": sum(len(v) for v in r.values()), "resources": len(r)} for cid, r in sorted(ours.items())
    }
    ck = {
        cid: {"name": names.get(cid, ""), "resources": len(keys)}
        for cid, keys in sorted(theirs.items(), key=lambda kv: (kv[0].startswith("CKV2"), int(kv[0].rsplit("_", 1)[1])))
    }
    return {"ours_by_family": dict(fam), "ours_by_check": per_check, "checkov_by_check": ck}


def secret_readers(theirs: dict[str, set[Key]], objects: dict[Key, dict[str, Any]]) -> dict[str, int]:
    """CKV2_K8S_5 ("no ServiceAccount should be able to read all secrets") on RoleBindings: how many
    of those it fails are bound to a Role (of their own namespace, as RBAC resolves roleRef) that
    grants no read of secrets. On a two-namespace tree, checkov fails the binding of namespace b
    to a Role `app-reader` reading configmaps when namespace a has a Role `app-reader` reading
    secrets, and passes it alone: its graph joins a binding to every Role of that name."""
    roles = {(k[2], k[3]): o for k, o in objects.items() if k[1] == "Role"}

    def reads(role: Mapping[str, Any]) -> bool:
        for r in role.get("rules") or []:
            res, verbs = set(r.get("resources") or []), set(r.get("verbs") or [])
            if res & {"secrets", "*"} and verbs & {"get", "list", "watch", "*"}:
                return True
        return False

    out = {"failed_rolebindings": 0, "role_reads_secrets": 0, "role_does_not": 0}
    for k in theirs.get("CKV2_K8S_5", set()):
        obj = objects.get(k)
        if k[1] != "RoleBinding" or obj is None or _dig(obj, ("roleRef", "kind")) != "Role":
            continue
        out["failed_rolebindings"] += 1
        role = roles.get((k[2], str(_dig(obj, ("roleRef", "name")))))
        if role is not None:
            out["role_reads_secrets" if reads(role) else "role_does_not"] += 1
    return out


def overlap(tree: Path) -> dict[str, Any]:
    ours = our_hits(json.loads((WORK / "ours.json").read_text()))
    theirs, names = checkov_hits(json.loads((WORK / "checkov.json").read_text()))
    objects = read_objects(tree)
    rows = compare(ours, theirs, objects)
    summ = findings_summary(ours, theirs, names)
    print()
    print("our findings by check family:")
    print(
        table(
            [("family", "checks fired", "findings", "resources")]
            + [
                (k, str(v["checks"]), str(v["findings"]), str(v["resources"]))
                for k, v in sorted(summ["ours_by_family"].items())
            ]
        )
    )
    print()
    print("checkov failed checks (resources):")
    print(", ".join(f"{cid} {v['resources']}" for cid, v in summ["checkov_by_check"].items()))
    print()
    print("checkov checks that correspond to Pod Security Standards controls, per resource:")
    print(markdown_pss_table(rows))
    unm = {cid: len(ours.get(cid, {})) for cid in PSS_UNMAPPED}
    print()
    print(
        "PSS controls with no checkov check: " + ", ".join(f"{cid} ({PSS_UNMAPPED[cid]}) {n}" for cid, n in unm.items())
    )
    sec = secret_readers(theirs, objects)
    print(
        f"CKV2_K8S_5 fails {sec['failed_rolebindings']} RoleBindings bound to a Role; that Role reads secrets "
        f"for {sec['role_reads_secrets']}, grants no read of secrets for {sec['role_does_not']}"
    )
    unexplained = [e for r in rows for e in r.examples]
    if unexplained:
        print(f"\n{len(unexplained)} disagreements not explained; first ones:")
        for e in unexplained[:20]:
            print("  " + e)
    diff = ["# checkov vs customhouse k8s: resources only one tool flags", ""]
    for r in rows:
        if r.examples:
            diff += [f"## {r.rule} -> {', '.join(r.ours)}", "", *(f"- {e}" for e in r.examples), ""]
    (WORK / "differences.md").write_text("\n".join(diff))
    return {
        "findings": summ,
        "pss_overlap": [{k: v for k, v in r.__dict__.items() if k != "examples"} for r in rows],
        "pss_unmapped_resources": unm,
        "unexplained": len(unexplained),
        "pss_table_md": markdown_pss_table(rows),
        "checkov_secret_readers": sec,
    }


# ============================================================================================ main


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    ap.add_argument("--runs", type=int, default=5, help="interleaved rounds of the three commands")
    ap.add_argument("--files", type=int, default=2000, help="at least this many manifest files in the tree")
    ap.add_argument("--pss-rounds", type=int, default=7)
    ap.add_argument("--no-verify-offline", action="store_true", help="skip the strace check of checkov")
    ap.add_argument("--compare-only", action="store_true", help="no timing: run both tools once, then compare")
    args = ap.parse_args()

    try:
        precompile()
    except subprocess.CalledProcessError:  # a module unrelated to `k8s` may be mid-edit elsewhere
        print("warning: compileall reported errors; measuring anyway", file=sys.stderr)
    WORK.mkdir(parents=True, exist_ok=True)
    tree, comp = manifest_tree(args.files)
    vers = versions()
    if "pure Python" in vers["customhouse"]:  # e.g. sources edited since ./scripts/setup compiled them
        print(f"warning: measuring {vers['customhouse']}; run scripts/build-native first", file=sys.stderr)
    print(f"tree: {tree}")
    print(
        f"  {comp['files']} files ({', '.join(f'{k} {v}' for k, v in comp['file_styles'].items())}), "
        f"{comp['objects']} objects, {comp['namespaces']} namespaces, {sum(comp['workloads'].values())} workloads "
        f"({', '.join(f'{k} {v}' for k, v in comp['workloads'].items())}), {comp['containers']} containers + "
        f"{comp['init_containers']} init containers, {comp['bytes'] / 1e6:.1f} MB"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    out: dict[str, Any] = {"versions": vers, "tree": {k: v for k, v in comp.items() if k != "profile_of"}}
    out["tree"]["path"] = str(tree.relative_to(ROOT))

    if not args.no_verify_offline:
        off = verify_offline(tree)
        out["checkov_offline"] = off
        if off.get("checked"):
            print(
                f"checkov under strace ({off['subtree']}): {off['connects']} connect() calls, "
                f"{len(off['network_connects'])} to the network {off['network_connects'][:3]}"
            )

    if args.compare_only:
        run_once(ours_cmd(tree, WORK / "ours.json"))
        run_once(checkov_cmd(tree), CHECKOV_ENV, WORK / "checkov.json")
    else:
        results, summary = timing(tree, args.runs)
        out.update(summary)
        rows: list[tuple[str, ...]] = [("run", "median s", "best s", "peak MB", "runs")]
        for r in results.values():
            rows.append((r.name, f"{r.median:.2f}", f"{r.best:.2f}", f"{r.peak_mb:.0f}", str(len(r.samples))))
        print()
        print(table(rows))
        ratios, met = summary["ratios"], summary["met"]
        print()
        print(
            f"customhouse k8s is {ratios['vs_checkov']:.1f}x faster than checkov "
            f"(target >= {TARGETS['vs_checkov']:.0f}x): {_verdict(met['vs_checkov'])}"
        )
        print(
            f"peak memory: customhouse {results['ours'].peak_mb:.0f} MB (target < {TARGETS['peak_mb']:.0f} MB): "
            f"{_verdict(met['peak_mb'])}; checkov {results['checkov'].peak_mb:.0f} MB"
        )
        print(f"customhouse k8s with the secret scan: {ratios['default_vs_checkov']:.1f}x faster than checkov (info)")
        print(f"customhouse config on the same tree: {ratios['config_vs_checkov']:.1f}x faster than checkov (info)")

    rate = pss_rate(tree, args.pss_rounds, comp["files"])
    out["pss_rate"] = rate
    print()
    print(
        f"Pod Security Standards (restricted, latest), in-process, {rate['templates']} pod templates "
        f"({rate['failing_templates']} fail), median of {args.pss_rounds}:"
    )
    for k, label in (
        ("evaluate_only", "pss.evaluate, parse excluded"),
        ("parse_included", "files' text -> YAML -> objects -> evaluate"),
        ("engine", "the 19 PSS checks via run_checks (findings built)"),
    ):
        v = rate[k]
        print(
            f"  {label}: {v['median_s'] * 1000:.1f} ms = {v['templates_per_s']:,.0f} workload manifests/s "
            f"({v['files_per_s']:,.0f} files/s of the whole tree)"
        )
    print(
        f"  target >= {TARGETS['pss_per_second']:,.0f} manifests/s: "
        f"evaluation {_verdict(rate['met']['evaluate_only'])}, "
        f"with parsing {_verdict(rate['met']['parse_included'])}"
    )

    out["overlap"] = overlap(tree)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"k8s-{'compare' if args.compare_only else 'results'}-{stamp}.json"
    dest = ROOT / "bench" / "results" / name
    dest.write_text(json.dumps(out, indent=2, default=list))
    shutil.copyfile(
        dest, ROOT / "bench" / "results" / f"k8s-{'compare' if args.compare_only else 'results'}-latest.json"
    )
    print(f"\nwritten: {dest}, {WORK / 'differences.md'}")


if __name__ == "__main__":
    main()
