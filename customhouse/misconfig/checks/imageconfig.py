"""Checks on a built image: its configuration, build history, layers and final filesystem.

They complement the Dockerfile checks: what matters at run time is the image, whatever
Dockerfile (or base image, or tool) produced it. The document model and the json_path scheme
are described in customhouse/misconfig/imageconfig.py. Secret detection here is by name and by
well-known token shapes only; the secret scanner (issue 6) will bring entropy and verification.
Every secret value is redacted before it reaches a message or snippet.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from customhouse.image.fs import SymlinkLoopError
from customhouse.misconfig.checks._secrettext import (
    SecretHit,
    assignment_hits,
    redact,
    redact_text,
    secret_file_name,
    text_hits,
)
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.imageconfig import FILE_TYPE, ImageConfig
from customhouse.model import FileInfo

FT = (FILE_TYPE,)
CIS = "https://www.cisecurity.org/benchmark/docker"
NIST = "https://doi.org/10.6028/NIST.SP.800-190"


def _doc(doc: Document) -> ImageConfig:
    return cast(ImageConfig, doc.data)


def _key(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def _fs_path(path: str) -> str:
    return f"$.rootfs[{_key('/' + path.lstrip('/'))}]"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _mode(info: FileInfo) -> str:
    """`ls -l` style mode string: what people recognise setuid and sticky bits by."""
    kind = {"dir": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"}.get(info.kind, "-")
    m = info.mode
    out = [kind]
    for shift, special, letter in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        bits = (m >> shift) & 7
        out.append("r" if bits & 4 else "-")
        out.append("w" if bits & 2 else "-")
        x = bool(bits & 1)
        if m & special:
            out.append(letter if x else letter.upper())
        else:
            out.append("x" if x else "-")
    return "".join(out)


def _listing(info: FileInfo) -> str:
    return f"{_mode(info)} {info.uid}:{info.gid} {info.size:>8} /{info.path}"


def _under(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


# ---------------------------------------------------------------------------- secrets


def _describe(hits: list[SecretHit]) -> str:
    parts = []
    for h in hits:
        what = h.kind if h.kind != "name" else "a secret-looking name"
        label = f"{h.name} " if h.name else ""
        parts.append(f"{label}({what}): {redact(h.value)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------- user


@check(
    "CH-IC-001",
    "Image runs as root",
    "medium",
    FT,
    description="The image's configured user is root: `User` is unset, `root`, uid 0, or a name that "
    "/etc/passwd maps to uid 0.",
    rationale="A process running as uid 0 in a container holds root's privileges over everything the "
    "container can reach: a kernel or runtime flaw, a writable host mount or an added capability turns "
    "into host compromise far more easily than from an unprivileged user. The image's default is what "
    "every `docker run` and most Kubernetes pods get unless someone overrides it.",
    remediation="Create an unprivileged user in the image and set it last: `RUN useradd -r -u 10001 app` "
    "then `USER 10001:10001` (a numeric uid lets Kubernetes' runAsNonRoot verify it).",
    references=(CIS, NIST, "https://docs.docker.com/reference/dockerfile/#user"),
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.1.2", mitre_attack="T1611"),
)
def root_user(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    if not d.has_config:
        return
    raw = d.config.get("User")
    user = str(raw).strip() if raw is not None else ""
    name = user.partition(":")[0]
    snippet = f"User: {user!r}" if user else "User: (unset)"
    reason = ""
    if not name:
        reason = "no user is configured, so containers run as root (uid 0)"
    elif name == "root" or (name.isdigit() and int(name) == 0):
        reason = f"the configured user {user!r} is root (uid 0)"
    elif not name.isdigit() and d.accounts is not None:
        for a in d.accounts:
            if a.name == name and a.uid == 0:
                reason = f"the configured user {name!r} has uid 0 in /etc/passwd, so it is root under another name"
                break
    if reason:
        yield Violation(message=f"Image runs as root: {reason}.", json_path="$.config.User", snippet=snippet)


@check(
    "CH-IC-002",
    "Account other than root has uid 0",
    "high",
    FT,
    description="/etc/passwd in the final filesystem has an account other than `root` with uid 0.",
    rationale="A second uid-0 account is root under another name: `USER toor` looks unprivileged in a "
    "review but is not, and an extra root account is a classic backdoor left by a compromised build "
    "or base image.",
    remediation="Remove the account, or give it its own non-zero uid (`usermod -u 10001 NAME`), and "
    "rebuild; find out who added it if you did not.",
    references=(NIST, "https://attack.mitre.org/techniques/T1078/003/"),
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.1.2", mitre_attack="T1078.003"),
)
def extra_uid0(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    if d.accounts is None:
        return
    user = str(d.config.get("User") or "").partition(":")[0]
    for a in d.accounts:
        if a.uid != 0 or a.name == "root":
            continue
        used = " and it is the image's configured user" if a.name == user else ""
        yield Violation(
            message=f"Account {a.name!r} in /etc/passwd has uid 0{used}: it is root under another name.",
            json_path=f"{_fs_path('etc/passwd')}[{_key(a.name)}]",
            snippet=f"{a.name}:x:{a.uid}:{a.gid}::{a.home}:{a.shell}",
            extra=d.layer_extra(d.passwd_layer, "etc/passwd"),
        )


# ---------------------------------------------------------------------------- secrets


_SECRET_RATIONALE = (
    "Anyone who can pull the image can read its configuration and history (`docker inspect`, "
    "`docker history`, or the registry API) without running it, and every copy in caches, mirrors and "
    "CI logs keeps the value. Rotating the secret is the only real fix once an image has been pushed."
)


@check(
    "CH-IC-003",
    "Secret in an environment variable",
    "high",
    FT,
    description="An `Env` entry of the image configuration holds what looks like a secret: a known "
    "token format, credentials in a URL, or a non-placeholder value under a name like PASSWORD or TOKEN.",
    rationale=_SECRET_RATIONALE + " Environment variables are also inherited by every child process and "
    "often end up in crash reports and debug endpoints.",
    remediation="Rotate the secret. Do not bake it in: pass it at run time (an orchestrator secret mounted as "
    "a file, e.g. `*_FILE=/run/secrets/...`), and use `RUN --mount=type=secret` for build-time needs.",
    references=(CIS, NIST, "https://docs.docker.com/build/building/secrets/"),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552"),
)
def env_secrets(doc: Document, options: Options) -> Iterator[Violation]:
    for i, name, value in _doc(doc).env():
        hits = assignment_hits(name, value)
        if hits:
            yield Violation(
                message=f"Env {name} holds what looks like a secret: {_describe(hits)}.",
                json_path=f"$.config.Env[{i}]",
                snippet=f"{name}={redact_text(value, hits)}",
                extra=(("variable", name),),
            )


@check(
    "CH-IC-004",
    "Secret in a label",
    "high",
    FT,
    description="A label of the image configuration holds what looks like a secret (known token format, "
    "credentials in a URL, or a secret-looking key with a real value).",
    rationale=_SECRET_RATIONALE + " Labels are also indexed and displayed by registries and inventory tools.",
    remediation="Rotate the secret and remove the label; labels are for public metadata only "
    "(`org.opencontainers.image.*`).",
    references=(CIS, NIST, "https://github.com/opencontainers/image-spec/blob/main/annotations.md"),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552"),
)
def label_secrets(doc: Document, options: Options) -> Iterator[Violation]:
    for key, value in sorted(_doc(doc).labels().items()):
        hits = assignment_hits(key, value)
        if hits:
            yield Violation(
                message=f"Label {key} holds what looks like a secret: {_describe(hits)}.",
                json_path=f"$.config.Labels[{_key(key)}]",
                snippet=f"{key}={redact_text(value, hits)}",
                extra=(("label", key),),
            )


@check(
    "CH-IC-005",
    "Secret in the build history",
    "high",
    FT,
    description="A `history[].created_by` entry of the image configuration shows a secret: a build argument "
    "(`RUN |1 TOKEN=...` or an `ARG` default), an `ENV`/`export`/`--build-arg` assignment, a `--password` "
    "flag, an Authorization header, credentials in a URL, or a known token format.",
    rationale=_SECRET_RATIONALE + " Build arguments are recorded with their values in the history of every "
    "RUN step that follows them, and a secret unset by a later step stays in the step that set it.",
    remediation="Rotate the secret. Pass build-time secrets with `RUN --mount=type=secret,id=...` (BuildKit) "
    "instead of ARG or ENV, and rebuild from scratch so no step records it.",
    references=(CIS, NIST, "https://docs.docker.com/build/building/secrets/"),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552"),
)
def history_secrets(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    # Values still in Env or Labels are reported there; the history copy adds nothing new.
    known = frozenset((n, v) for _, n, v in d.env()) | frozenset(d.labels().items())
    for step in d.history:
        if not step.created_by:
            continue
        hits = text_hits(step.created_by, known)
        if not hits:
            continue
        where = d.layer_label(step.layer) if step.layer >= 0 else "a step without a layer"
        extra: tuple[tuple[str, str], ...] = (("history_index", str(step.index)),)
        if step.layer >= 0:
            extra = d.layer_extra(step.layer) + extra
        text = redact_text(step.created_by, hits)
        yield Violation(
            message=f"History step {step.index + 1} ({where}) records {_describe(hits)}.",
            json_path=f"$.history[{step.index}].created_by",
            snippet=text[:500] + ("…" if len(text) > 500 else ""),
            extra=extra,
        )


# ---------------------------------------------------------------------------- filesystem

_RUNTIME_MOUNTS = ("proc", "sys", "dev")  # replaced by the runtime: image content there never shows


@check(
    "CH-IC-006",
    "setuid or setgid file",
    "low",
    FT,
    description="A regular file in the final filesystem has the setuid or setgid bit. Each file is a "
    "separate finding so that the expected ones (e.g. `su`, `passwd` from the distribution) can be "
    "ignored by path and new ones stand out.",
    rationale="setuid/setgid programs run with their owner's (usually root's) privileges whatever user "
    "starts them, so each one is a privilege-escalation path from an unprivileged container user. "
    "Containers rarely need any: users are not switched or passwords changed inside them.",
    remediation="Remove the bits in the image: `RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +` "
    "(or remove the programs), and run containers with `--security-opt no-new-privileges`.",
    references=(CIS, NIST, "https://attack.mitre.org/techniques/T1548/001/"),
    frameworks=Framework(cis_docker="4.8", nist_800_190="4.1.2", mitre_attack="T1548.001"),
)
def setuid_files(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    for info, layer in d.fs:
        if info.kind not in ("file", "hardlink") or not info.mode & 0o6000:
            continue
        if _under(info.path, _RUNTIME_MOUNTS):
            continue
        runs = []
        if info.mode & 0o4000:
            runs.append(f"as uid {info.uid}" + (" (root)" if info.uid == 0 else ""))
        if info.mode & 0o2000:
            runs.append(f"with gid {info.gid}" + (" (root)" if info.gid == 0 else ""))
        bits = " and ".join(b for b, on in (("setuid", info.mode & 0o4000), ("setgid", info.mode & 0o2000)) if on)
        yield Violation(
            message=f"/{info.path} is {bits} (mode {info.mode:04o}): it runs {' '.join(runs)} whoever starts it; "
            f"added in {d.layer_label(layer)}.",
            json_path=_fs_path(info.path),
            snippet=_listing(info),
            extra=(*d.layer_extra(layer, info.path), ("mode", f"{info.mode:04o}")),
        )


_WRITABLE_OK = ("tmp", "var/tmp", "dev/shm", *_RUNTIME_MOUNTS)


@check(
    "CH-IC-007",
    "World-writable file or directory",
    "medium",
    FT,
    description="A file or directory outside /tmp, /var/tmp and /dev/shm is writable by every user. "
    "Directories with the sticky bit (like /tmp) are fine; entries below a reported directory are "
    "counted in its finding rather than reported one by one.",
    rationale="Any process in the container, whatever its user, can replace a world-writable program, "
    "library or configuration file, or plant files in a world-writable directory that another (often "
    "more privileged) process reads or executes; that is how a foothold becomes persistence or root.",
    remediation="Give the files to the user that needs them and drop the write bit for others "
    "(`chown -R app: /app && chmod -R o-w /app`); if a shared directory is needed, add the sticky bit "
    "(`chmod 1777`).",
    references=(NIST, "https://man7.org/linux/man-pages/man1/chmod.1.html"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def world_writable(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    found: list[tuple[FileInfo, int]] = []
    for info, layer in d.fs:
        if info.kind == "symlink" or not info.mode & 0o002 or _under(info.path, _WRITABLE_OK):
            continue
        if info.kind == "dir" and info.mode & 0o1000:
            continue
        found.append((info, layer))
    dirs = {info.path for info, _ in found if info.kind == "dir"}
    below: dict[str, int] = {}
    top: list[tuple[FileInfo, int]] = []
    for info, layer in found:
        parent = info.path
        owner = ""
        while "/" in parent:
            parent = parent.rpartition("/")[0]
            if parent in dirs:
                owner = parent
        if owner:
            below[owner] = below.get(owner, 0) + 1
        else:
            top.append((info, layer))
    for info, layer in top:
        what = "directory" if info.kind == "dir" else "file"
        more = below.get(info.path, 0)
        tail = f", with {more} world-writable entries below it" if more else ""
        yield Violation(
            message=f"/{info.path} is a world-writable {what} (mode {info.mode:04o}){tail}; "
            f"from {d.layer_label(layer)}.",
            json_path=_fs_path(info.path),
            snippet=_listing(info),
            extra=(*d.layer_extra(layer, info.path), ("mode", f"{info.mode:04o}")),
        )


@dataclass(frozen=True)
class _Cache:
    name: str
    pattern: re.Pattern[str]  # group 1: the cache directory
    cleanup: str


_CACHES: tuple[_Cache, ...] = (
    _Cache(
        "apt package archives",
        re.compile(r"^(var/cache/apt/archives)/(?:partial/)?[^/]+\.deb$"),
        "`apt-get clean` in the same RUN",
    ),
    _Cache(
        "apt package lists",
        re.compile(r"^(var/lib/apt/lists)/(?!lock$).+"),
        "`rm -rf /var/lib/apt/lists/*` in the same RUN",
    ),
    _Cache("apt binary caches", re.compile(r"^(var/cache/apt)/[^/]+\.bin$"), "`apt-get clean` in the same RUN"),
    _Cache("apk cache", re.compile(r"^(var/cache/apk)/.+"), "`apk add --no-cache`"),
    _Cache("yum cache", re.compile(r"^(var/cache/yum)/.+"), "`yum clean all` in the same RUN"),
    _Cache("dnf cache", re.compile(r"^(var/cache/dnf)/.+"), "`dnf clean all` in the same RUN"),
    _Cache("pip cache", re.compile(r"^((?:root|home/[^/]+)/\.cache/pip)/.+"), "`pip install --no-cache-dir`"),
    _Cache(
        "npm cache",
        re.compile(r"^((?:root|home/[^/]+)/\.npm/_cacache)/.+"),
        "`npm cache clean --force` in the same RUN",
    ),
    _Cache(
        "yarn cache",
        re.compile(r"^((?:root|home/[^/]+|usr/local/share)/\.cache/yarn)/.+"),
        "`yarn cache clean` in the same RUN",
    ),
    _Cache(
        "Go build cache",
        re.compile(r"^((?:root|home/[^/]+)/\.cache/go-build)/.+"),
        "a cache mount (`RUN --mount=type=cache,target=/root/.cache/go-build`)",
    ),
)


@check(
    "CH-IC-008",
    "Package manager cache left in the image",
    "low",
    FT,
    description="The final filesystem still holds a package manager's download cache or index (apt, apk, "
    "yum, dnf, pip, npm, yarn, Go build cache); one finding per cache directory with its size.",
    rationale="Caches are never used at run time: they make every pull and every scan slower and the "
    "attack surface larger, and stale package indexes invite installing outdated packages inside a "
    "running container. Cleaning them in a later layer does not help: the bytes stay in the layer that "
    "wrote them.",
    remediation="Clean the cache in the same RUN instruction that filled it (or use the package manager's "
    "no-cache option, or a BuildKit cache mount).",
    references=("https://docs.docker.com/build/building/best-practices/#apt-get",),
)
def package_caches(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    totals: dict[tuple[str, str], list[int]] = {}  # (cache, dir) -> [files, bytes]
    by_layer: dict[tuple[str, str], dict[int, int]] = {}
    for info, layer in d.fs:
        if info.kind != "file":
            continue
        for cache in _CACHES:
            m = cache.pattern.match(info.path)
            if m:
                key = (cache.name, m.group(1))
                t = totals.setdefault(key, [0, 0])
                t[0] += 1
                t[1] += info.size
                per = by_layer.setdefault(key, {})
                per[layer] = per.get(layer, 0) + info.size
                break
    cleanup = {c.name: c.cleanup for c in _CACHES}
    for (name, directory), (count, size) in sorted(totals.items(), key=lambda kv: kv[0][1]):
        per = by_layer[(name, directory)]
        biggest = max(per, key=lambda k: (per[k], -k))
        layers = ", ".join(d.layer_label(i) for i in sorted(per))
        yield Violation(
            message=f"{name}: {count} files, {_size(size)} in /{directory}, from {layers}.",
            json_path=_fs_path(directory),
            snippet=f"/{directory}: {count} files, {size} bytes",
            fix=f"Remove the {name} where it is created: {cleanup[name]}.",
            extra=(*d.layer_extra(biggest, directory), ("bytes", str(size)), ("files", str(count))),
        )


# ---------------------------------------------------------------------------- run-time configuration


@check(
    "CH-IC-009",
    "No HEALTHCHECK",
    "low",
    FT,
    description="The image configuration has no health check, or disables the one it inherited (`HEALTHCHECK NONE`).",
    rationale="Without a health check the engine only knows whether the process exists, not whether it "
    "works: a hung or deadlocked service keeps receiving traffic and is never restarted. (Kubernetes "
    "ignores image health checks; there, define liveness and readiness probes instead.)",
    remediation="Add a cheap probe of the service itself, e.g. "
    '`HEALTHCHECK --interval=30s --timeout=3s CMD ["/app/healthcheck"]`.',
    references=(CIS, "https://docs.docker.com/reference/dockerfile/#healthcheck"),
    frameworks=Framework(cis_docker="4.6"),
)
def no_healthcheck(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    if not d.has_config:
        return
    hc = d.config.get("Healthcheck")
    test = hc.get("Test") if isinstance(hc, dict) else None
    if isinstance(test, list) and test[:1] == ["NONE"]:
        yield Violation(
            message="The health check is disabled (HEALTHCHECK NONE).",
            json_path="$.config.Healthcheck.Test",
            snippet='Healthcheck.Test: ["NONE"]',
        )
    elif not isinstance(test, list) or not test:
        yield Violation(
            message="The image defines no health check.",
            json_path="$.config.Healthcheck",
            snippet="Healthcheck: (unset)",
        )


_PORT_NAMES = {
    22: "SSH",
    23: "telnet",
    2375: "Docker API without TLS",
    2376: "Docker API",
    3389: "RDP",
    5900: "VNC",
    5985: "WinRM",
    5986: "WinRM over TLS",
    6443: "Kubernetes API",
    10250: "kubelet API",
}


def _ports(spec: str) -> list[int]:
    number = spec.partition("/")[0]
    lo, _, hi = number.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()):
        return []
    start, end = int(lo), int(hi or lo)
    return list(range(start, min(end, start + 65535) + 1))


@check(
    "CH-IC-010",
    "Remote administration port exposed",
    "medium",
    FT,
    description="`ExposedPorts` declares a port used for remote administration or control planes "
    "(SSH, telnet, Docker API, RDP, VNC, WinRM, Kubernetes API, kubelet; the list is configurable).",
    rationale="An image exposing an administration service invites running one in the container: a "
    "second way in that bypasses the orchestrator's access control, auditing and lifecycle, and one "
    "`-P` or `hostPort` away from the network. An exposed Docker or kubelet API gives control over the "
    "host.",
    remediation="Remove the EXPOSE and the service; administer containers through the orchestrator "
    "(`docker exec`, `kubectl exec`).",
    references=(CIS, NIST, "https://attack.mitre.org/techniques/T1021/"),
    frameworks=Framework(cis_docker="5.8", nist_800_190="4.1.2", mitre_attack="T1021"),
)
def admin_ports(doc: Document, options: Options) -> Iterator[Violation]:
    exposed = _doc(doc).config.get("ExposedPorts")
    if not isinstance(exposed, dict):
        return
    for spec in sorted(exposed, key=str):
        hits = sorted(p for p in _ports(str(spec)) if p in options.admin_ports)
        if hits:
            names = ", ".join(f"{p} ({_PORT_NAMES[p]})" if p in _PORT_NAMES else str(p) for p in hits)
            yield Violation(
                message=f"The image exposes {names}.",
                json_path=f"$.config.ExposedPorts[{_key(str(spec))}]",
                snippet=f"EXPOSE {spec}",
            )


def _tag(ref: str) -> str:
    """The tag of a reference (`repo:tag`, `host:5000/repo:tag`) or of a bare OCI ref name."""
    ref = ref.partition("@")[0]
    _, colon, tail = ref.rpartition(":")
    if colon and "/" not in tail:
        return tail
    return ref if "/" not in ref and ":" not in ref else ""


@check(
    "CH-IC-011",
    "Image is tagged latest",
    "low",
    FT,
    description="The image was scanned under (or its archive records) the `latest` tag, which is also what a "
    "reference without tag or digest means. Images referenced by digest are not reported.",
    rationale="`latest` is a moving name, not a version: the image behind it changes with every push, so "
    "deployments are not reproducible, rollbacks are guesswork and what was scanned need not be what "
    "runs.",
    remediation="Tag images with an immutable version (a release number or the commit) and deploy by "
    "digest (`image@sha256:...`).",
    references=(NIST, "https://docs.docker.com/reference/cli/docker/image/tag/"),
    frameworks=Framework(nist_800_190="4.2.2"),
)
def latest_tag(doc: Document, options: Options) -> Iterator[Violation]:
    tags = _doc(doc).target.repo_tags
    for i, ref in enumerate(tags):
        if _tag(ref) == "latest":
            yield Violation(
                message=f"The image is tagged {ref!r}.",
                json_path=f"$.repo_tags[{i}]",
                snippet=ref,
            )


# ---------------------------------------------------------------------------- layers


def _removed_versions(d: ImageConfig) -> Iterator[tuple[FileInfo, int, int, str]]:
    """(entry as stored, layer that added it, layer that removed it, how) for every removal."""
    for r in d.fs.removals:
        info = d.layer_file(r.added_in, r.path)
        if info is not None:
            yield info, r.added_in, r.removed_in, r.how


@check(
    "CH-IC-012",
    "Files added in one layer and removed in a later one",
    "low",
    FT,
    description="A layer deletes or replaces files that an earlier layer added, and together they are at least "
    "the configured size (1 MiB by default, `Options.extra['wasted_bytes_min']`). One finding per pair of "
    "layers, with the number of files and bytes.",
    rationale="Layers are immutable: deleting or rewriting a file (even `chmod` or `chown` on it) in a later "
    "layer hides it from the final filesystem but still ships its old bytes in the earlier layer, where "
    "anyone can extract them. The image is larger than it looks, and whatever the build meant to remove "
    "(build tools, sources, credentials) is still there.",
    remediation="Create and remove temporary files in the same RUN instruction, set ownership and modes "
    "when copying (`COPY --chown --chmod`), or use a multi-stage build and copy only the results.",
    references=("https://docs.docker.com/build/building/multi-stage/",),
)
def wasted_layers(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    minimum = int(options.extra.get("wasted_bytes_min", 1 << 20))
    pairs: dict[tuple[int, int], list[FileInfo]] = {}
    for info, added, removed, _how in _removed_versions(d):
        if info.kind == "file" and info.size > 0:
            pairs.setdefault((added, removed), []).append(info)
    for (added, removed), files in sorted(pairs.items()):
        total = sum(f.size for f in files)
        if total < minimum or total == 0:
            continue
        largest = sorted(files, key=lambda f: (-f.size, f.path))[:5]
        examples = ", ".join(f"/{f.path} ({_size(f.size)})" for f in largest)
        step = d.created_by(removed)
        remover = d.layer_info(removed)
        yield Violation(
            message=f"{d.layer_label(removed)} removes or replaces {len(files)} files ({_size(total)}) that "
            f"{d.layer_label(added)} added; their bytes still ship in {d.layer_label(added)}. Largest: {examples}.",
            json_path=f"$.layers[{added}].removed_by[{removed}]",
            snippet=step[:500] if step else "",
            extra=(
                *d.layer_extra(added),
                ("removed_in_layer_index", str(removed)),
                ("removed_in_layer", remover.diff_id if remover is not None else ""),
                ("bytes", str(total)),
                ("files", str(len(files))),
            ),
        )


@check(
    "CH-IC-013",
    "Deleted secret file still extractable from an earlier layer",
    "high",
    FT,
    description="A file whose name says it holds credentials (SSH private keys, .env, .npmrc, .netrc, "
    "*.pem/*.key outside certificate stores, cloud and registry credentials) was added in one layer and "
    "deleted or replaced in a later one, so it is absent from the final filesystem but present in the "
    "image.",
    rationale="Deleting a file in a later layer only hides it: the layer that added it is still pulled with "
    "the image, and `docker save` plus `tar` recovers it in seconds. A credential 'cleaned up' this way "
    "has been published to everyone who can pull the image.",
    remediation="Treat the credential as leaked and rotate it. Provide build-time credentials with "
    "`RUN --mount=type=secret` or `--mount=type=ssh`, or in a build stage that is not shipped, never with "
    "COPY/ADD followed by `rm`.",
    references=(CIS, NIST, "https://docs.docker.com/build/building/secrets/"),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def deleted_secret_files(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    for info, added, removed, how in sorted(_removed_versions(d), key=lambda t: (t[1], t[0].path)):
        if info.kind not in ("file", "hardlink") or not secret_file_name(info.path):
            continue
        if info.kind == "file" and info.size == 0:
            continue
        verb = "replaced" if how == "overwritten" else "deleted"
        yield Violation(
            message=f"/{info.path} ({_size(info.size)}) was {verb} in {d.layer_label(removed)}, but is still "
            f"extractable from {d.layer_label(added)}, which added it.",
            json_path=f"$.layers[{added}].files[{_key('/' + info.path)}]",
            snippet=_listing(info),
            extra=(*d.layer_extra(added, info.path), ("removed_in_layer_index", str(removed)), ("how", how)),
        )


# ---------------------------------------------------------------------------- more configuration

_SENSITIVE_VOLUMES = {
    "/": "the whole root filesystem",
    "/etc": "system configuration",
    "/root": "root's home directory",
    "/boot": "the boot directory",
    "/proc": "the process filesystem",
    "/sys": "the kernel's sysfs",
    "/dev": "device nodes",
    "/lib/modules": "kernel modules",
    "/usr": "system programs",
    "/bin": "system programs",
    "/sbin": "system programs",
    "/lib": "system libraries",
    "/run": "runtime sockets",
    "/var/run": "runtime sockets",
    "/var/run/docker.sock": "the Docker API socket",
    "/run/docker.sock": "the Docker API socket",
    "/var/lib/docker": "Docker's state",
    "/run/containerd": "containerd's sockets",
    "/var/run/containerd": "containerd's sockets",
    "/run/containerd/containerd.sock": "the containerd API socket",
    "/var/run/crio": "CRI-O's sockets",
    "/var/lib/kubelet": "the kubelet's state",
}


@check(
    "CH-IC-014",
    "Volume declared on a sensitive path",
    "medium",
    FT,
    description="`Volumes` declares a mount point on a system or control path: the root, /etc, /proc, /sys, "
    "/dev, system program directories, or a container runtime's socket or state directory.",
    rationale="A VOLUME is a request for outside storage at that path. On a runtime socket or state directory "
    "it tells operators to bind the host's in, which hands the container control of the host; on a "
    "system directory it freezes that directory's content in a volume, so later image updates (security "
    "fixes included) never reach it.",
    remediation="Declare volumes only for application data directories (e.g. /var/lib/app/data); if the "
    "container truly needs the runtime API, grant it through a narrowly scoped proxy, not the socket.",
    references=(CIS, NIST, "https://docs.docker.com/reference/dockerfile/#volume"),
    frameworks=Framework(cis_docker="5.5", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def sensitive_volumes(doc: Document, options: Options) -> Iterator[Violation]:
    volumes = _doc(doc).config.get("Volumes")
    if not isinstance(volumes, dict):
        return
    for raw in sorted(volumes, key=str):
        # One leading slash only: POSIX normpath keeps a leading "//" as it is.
        path = posixpath.normpath("/" + str(raw).strip().lstrip("/"))
        what = _SENSITIVE_VOLUMES.get(path)
        if what:
            yield Violation(
                message=f"The image declares a volume at {path} ({what}).",
                json_path=f"$.config.Volumes[{_key(str(raw))}]",
                snippet=f"VOLUME {raw}",
            )


_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh"})
_VAR = r"\$(?:\{[A-Za-z_][A-Za-z0-9_]*[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)"
# Shell code taken from the environment: `eval` of an expansion, a nested `sh -c "$X"`, or a
# script that is nothing but an expansion.
_EVAL_ENV = re.compile(
    rf"\beval\b[^;&|\n]*{_VAR}|\b(?:{'|'.join(sorted(_SHELLS))})\s+(?:-\w*c\w*)\s+[\"']?{_VAR}|^\s*[\"']?{_VAR}[\"']?\s*$"
)


def _shell_script(argv: list[str]) -> str | None:
    """The script of `sh -c SCRIPT ...` (any shell, combined flags like `-ec`), else None."""
    if len(argv) < 3 or posixpath.basename(argv[0]) not in _SHELLS:
        return None
    for i, arg in enumerate(argv[1:], 1):
        if arg.startswith("-") and "c" in arg[1:] and not arg.startswith("--"):
            return argv[i + 1] if i + 1 < len(argv) else None
        if not arg.startswith("-"):
            return None
    return None


@check(
    "CH-IC-015",
    "Entrypoint runs environment values as shell code",
    "medium",
    FT,
    description="The entrypoint or command is a shell (`sh -c ...`) that evaluates the contents of an "
    'environment variable as code: `eval $X`, a nested `sh -c "$X"`, or a script consisting only of `$X`.',
    rationale="Environment values come from whoever configures the container (a compose file, a Kubernetes "
    "ConfigMap, a CI variable), often with less review than code. Evaluating them as shell code turns "
    "write access to configuration into command execution inside the container, with its user and "
    "secrets.",
    remediation='Pass configuration as data: use exec form (`ENTRYPOINT ["/app", "--flag"]`), read values in '
    'the program, and in scripts quote expansions (`"$X"`) instead of `eval`-ing them.',
    references=(
        "https://docs.docker.com/reference/dockerfile/#entrypoint",
        "https://attack.mitre.org/techniques/T1059/004/",
    ),
    frameworks=Framework(nist_800_190="4.1.2", mitre_attack="T1059.004"),
)
def entrypoint_eval(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    entrypoint, cmd = d.argv("Entrypoint"), d.argv("Cmd")
    candidates = [("Entrypoint", entrypoint + cmd)] if entrypoint else []
    if not entrypoint:
        candidates.append(("Cmd", cmd))
    for key, argv in candidates:
        script = _shell_script(argv)
        if script is not None and _EVAL_ENV.search(script):
            yield Violation(
                message=f"{key} runs {posixpath.basename(argv[0])} -c with a script that evaluates an "
                f"environment variable as shell code: {script[:200]!r}.",
                json_path=f"$.config.{key}",
                snippet=json.dumps(argv)[:500],
            )


_SUDO_BINARIES = {
    "sudo": ("usr/bin/sudo", "bin/sudo", "usr/sbin/sudo", "usr/local/bin/sudo"),
    "doas": ("usr/bin/doas", "bin/doas", "usr/local/bin/doas"),
}


def _present(d: ImageConfig, path: str) -> bool:
    try:
        entry = d.fs.get(d.fs.resolve(path))
    except SymlinkLoopError:
        return False
    return entry is not None and entry[0].kind in ("file", "hardlink")


@check(
    "CH-IC-016",
    "sudo or doas without a password",
    "medium",
    FT,
    description="sudo (/etc/sudoers, /etc/sudoers.d) or doas (doas.conf) is installed and a rule grants "
    "privileges without a password (`NOPASSWD`, `Defaults !authenticate`, `permit nopass`). Needs the "
    "image facts analyzer.",
    rationale="A passwordless sudo rule makes the unprivileged USER of the image root for anyone who gets a "
    "shell in it, which undoes the point of not running as root.",
    remediation="Remove sudo/doas from the image; do privileged setup at build time (as root, before USER) "
    "or in an init container, not at run time.",
    references=(CIS, "https://attack.mitre.org/techniques/T1548/003/"),
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.1.2", mitre_attack="T1548.003"),
)
def passwordless_sudo(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    if not d.privilege_rules:
        return
    installed = {tool for tool, paths in _SUDO_BINARIES.items() if any(_present(d, p) for p in paths)}
    for rule in d.privilege_rules:
        if rule.tool not in installed:
            continue
        yield Violation(
            message=f"/{rule.path} line {rule.line} lets {rule.tool} run commands without a password: {rule.text!r}.",
            json_path=f"{_fs_path(rule.path)}[{rule.line}]",
            snippet=rule.text,
            extra=(*d.layer_extra(rule.layer, rule.path), ("rule_line", str(rule.line))),
        )


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    m = _DATE.match(str(value or ""))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


@check(
    "CH-IC-017",
    "Image is old",
    "low",
    FT,
    description="The image's `created` date is more than the configured number of days ago (365 by default, "
    "`Options.extra['max_image_age_days']`; `Options.extra['now']` fixes the reference date). Images "
    "with a reproducible-build timestamp before 2000 (e.g. the epoch) are not judged.",
    rationale="An image not rebuilt for a long time carries every fix its base image and packages gained "
    "since then as a missing patch, whether or not a scanner knows the vulnerability yet.",
    remediation="Rebuild images regularly (e.g. weekly, and whenever the base image changes) and redeploy; "
    "automate base-image updates.",
    references=(CIS, NIST),
    frameworks=Framework(cis_docker="4.4", nist_800_190="4.2.2"),
)
def old_image(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    created = _as_date(d.target.created)
    if created is None or created.year < 2000:
        return
    now = _as_date(options.extra.get("now")) or date.today()
    limit = int(options.extra.get("max_image_age_days", 365))
    age = (now - created).days
    if age > limit:
        yield Violation(
            message=f"The image was created on {created.isoformat()}, {age} days ago (limit {limit}).",
            json_path="$.created",
            snippet=f"created: {d.target.created}",
        )


@check(
    "CH-IC-018",
    "Account without a password",
    "high",
    FT,
    description="/etc/shadow (or /etc/passwd, when it holds the hashes) has an account whose password field is "
    "empty, so it needs no password at all. Locked accounts (`!`, `*`) are fine. Needs the image facts "
    "analyzer.",
    rationale="With an empty password, `su` or any PAM login to that account succeeds for every user in "
    "the container: for root that is a one-command privilege escalation (as in the Alpine images of "
    "CVE-2019-5021).",
    remediation="Lock the account: `passwd -l NAME` (or `usermod -p '!' NAME`) in the image build.",
    references=("https://nvd.nist.gov/vuln/detail/CVE-2019-5021", NIST),
    frameworks=Framework(nist_800_190="4.1.2", mitre_attack="T1078.003"),
)
def empty_passwords(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    for name, path, layer in d.empty_passwords or ():
        yield Violation(
            message=f"Account {name!r} has an empty password field in /{path}: it needs no password.",
            json_path=f"{_fs_path(path)}[{_key(name)}]",
            snippet=f"{name}::…",
            extra=(*d.layer_extra(layer, path), ("account", name)),
        )


_SSH_SERVERS = ("usr/sbin/sshd", "sbin/sshd", "usr/sbin/dropbear", "usr/bin/dropbear", "usr/local/sbin/sshd")


@check(
    "CH-IC-019",
    "SSH server installed",
    "low",
    FT,
    description="The final filesystem contains an SSH server (OpenSSH `sshd` or Dropbear).",
    rationale="An SSH server in a container is a second, unmanaged way in with its own keys, passwords and "
    "patch cycle, outside the orchestrator's access control and audit; containers are reached with "
    "`docker exec` or `kubectl exec` instead.",
    remediation="Do not install the server (install only the client package, e.g. `openssh-client`), and "
    "remove any EXPOSE 22.",
    references=(CIS, "https://attack.mitre.org/techniques/T1021/004/"),
    frameworks=Framework(cis_docker="5.6", nist_800_190="4.1.2", mitre_attack="T1021.004"),
)
def ssh_server(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    for path in _SSH_SERVERS:
        entry = d.fs.get(path)
        if entry is None or entry[0].kind not in ("file", "hardlink"):
            continue
        info, layer = entry
        yield Violation(
            message=f"/{path} is an SSH server; from {d.layer_label(layer)}.",
            json_path=_fs_path(path),
            snippet=_listing(info),
            extra=d.layer_extra(layer, path),
        )


@check(
    "CH-IC-020",
    "Unsafe PATH entry",
    "low",
    FT,
    description="`PATH` in `Env` has an empty or relative entry (the current directory) or names a "
    "directory that is world-writable without the sticky bit in the image.",
    rationale="Commands are looked up in PATH order: an entry that is the current directory or writable by "
    "everyone lets any user plant a program that a later (possibly privileged) process runs instead of "
    "the real one.",
    remediation="Use only absolute, root-owned directories in PATH, e.g. "
    "`/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`.",
    references=("https://attack.mitre.org/techniques/T1574/007/",),
    frameworks=Framework(nist_800_190="4.1.2", mitre_attack="T1574.007"),
)
def unsafe_path(doc: Document, options: Options) -> Iterator[Violation]:
    d = _doc(doc)
    for i, name, value in d.env():
        if name != "PATH":
            continue
        problems = []
        for entry in value.split(":"):
            if not entry or not entry.startswith("/"):
                problems.append(f"{entry or '(empty)'!s} is relative to the working directory")
                continue
            try:
                resolved = d.fs.resolve(entry)
            except SymlinkLoopError:
                continue
            hit = d.fs.get(resolved)
            if hit and hit[0].kind == "dir" and hit[0].mode & 0o002 and not hit[0].mode & 0o1000:
                problems.append(f"{entry} is world-writable (mode {hit[0].mode:04o})")
        if problems:
            yield Violation(
                message=f"PATH has unsafe entries: {'; '.join(problems)}.",
                json_path=f"$.config.Env[{i}]",
                snippet=f"PATH={value}",
            )
