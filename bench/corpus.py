"""A corpus of real-world Dockerfiles and compose files for the misconfiguration benchmark.

There is no route to GitHub from our machines, but real Dockerfiles and compose files ship
inside packages on the registries we can reach: Debian packages (Go and Rust source packages,
documentation examples, CI images), PyPI source distributions and npm tarballs. The corpus is
harvested from a fixed list of those packages at bench time into the test cache and is never
committed: the files keep their authors' licenses, and the manifest records where each came
from (registry, package, version, path inside the package) so any finding can be traced back.

Exact duplicates are dropped (packages vendor the same file many times). When the harvest
yields fewer than `MIN_DOCKERFILES` Dockerfiles or `MIN_COMPOSE` compose files, variants of
harvested files are generated with mutations that add or remove the issues linters look for
(root user, `latest` tags, apt flags, ADD, secrets in ENV, port 22...). They live under
`generated/` and are marked as such in the manifest, so a reader can always tell them apart.

    .venv/bin/python -m bench.corpus        # build (or reuse) it and print its composition
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from tests.conftest import TEST_CACHE, cached_build

MIN_DOCKERFILES = 500
MIN_COMPOSE = 100
MAX_BYTES = 256 << 10  # anything bigger is generated or vendored, not written by a person

# Debian bookworm packages that ship Dockerfiles or compose files: Go/Rust source packages
# (CI images, examples, test data), documentation examples, test suites. The version is
# whatever the (snapshot-pinned) mirror serves; it is recorded in the manifest.
DEBIAN: tuple[str, ...] = (
    "ansible",
    "bazel-bootstrap-source",
    "charliecloud-doc",
    "charliecloud-tests",
    "debocker",
    "dirsearch",
    "erlang-jose",
    "golang-1.19-src",
    "golang-github-anacrolix-dms-dev",
    "golang-github-aquasecurity-go-dep-parser-dev",
    "golang-github-canonical-candid-dev",
    "golang-github-cilium-ebpf-dev",
    "golang-github-crowdsecurity-crowdsec-dev",
    "golang-github-fsouza-go-dockerclient-dev",
    "golang-github-gliderlabs-ssh-dev",
    "golang-github-henrydcase-nobs-dev",
    "golang-github-openshift-imagebuilder-dev",
    "golang-github-smallstep-certificates-dev",
    "lava-server-doc",
    "libcu++-dev",
    "libdancer2-perl",
    "libdd-opentracing0",
    "libiceoryx-posh-dev",
    "libjs-jquery-file-upload",
    "librust-asn1-dev",
    "librust-bat-dev",
    "librust-colored-dev",
    "librust-curl-dev",
    "librust-cxx-dev",
    "librust-effective-limits-dev",
    "librust-gpg-error-dev",
    "librust-gpgme-dev",
    "librust-libm-dev",
    "librust-nettle-sys-dev",
    "librust-num-cpus-dev",
    "librust-sniffglue-dev",
    "libvpl-dev",
    "newsboat",
    "node-ldapjs",
    "node-sqlite3",
    "notary",
    "o-saft",
    "openrefine",
    "patroni",
    "podman-compose",
    "python-circuits-doc",
    "python-tango-doc",
    "python-tornado-doc",
    "python3-diskimage-builder",
    "python3-flask-talisman",
    "python3-hug-doc",
    "python3-ipyparallel",
    "python3-locust",
    "python3-magnum",
    "qt5-qmake",
    "r-bioc-metagenomeseq",
    "r-cran-plumber",
    "r-cran-rdflib",
    "r-cran-sf",
    "r-cran-stars",
    "ruby-bunny",
    "ruby-jaeger-client",
    "ruby-pry-rails",
    "rust-src",
    "rust-web-src",
    "snakemake-doc",
    "wesnoth-1.16-tools",
    "yade",
)

# PyPI source distributions that were checked to include Dockerfiles or compose files.
PYPI: tuple[tuple[str, str], ...] = (("docker-compose", "1.29.2"),)

# npm tarballs that were checked to include Dockerfiles or compose files.
NPM: tuple[tuple[str, str], ...] = (
    ("dockerode-compose", "1.4.0"),
    ("dockerfilelint", "1.8.0"),
    ("dockerfile_lint", "0.3.4"),
    ("dockerlint", "0.3.9"),
    ("validate-dockerfile", "1.8.1"),
    ("resin-compose-parse", "2.4.0"),
    ("@balena/compose", "8.0.5"),
)

DOWNLOADS = TEST_CACHE / "config-corpus-downloads"

INSTRUCTIONS = frozenset(
    [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "MAINTAINER",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ]
)
_DF_NAME = re.compile(
    r"^(?:(?:Dockerfile|Containerfile|dockerfile)(?:[._\-][\w.\-]*)?|[\w.\-]+\.(?:[Dd]ockerfile|containerfile))$"
)
_NOT_DF_EXT = re.compile(
    r"\.(?:j2|jinja2?|tmpl|tpl|template|in|ejs|hbs|erb|mustache|md|rst|txt|sh|py|go|rs|js|ts|json|ya?ml|hi|html|5|orig|bak|sample|example)$",
    re.I,
)
_COMPOSE_NAME = re.compile(r"^(?:docker-)?compose(?:[.\-][\w.\-]+)?\.ya?ml$|\.compose\.ya?ml$|^docker-compose")
_COMPOSE_TOP = frozenset({"version", "services", "networks", "volumes", "configs", "secrets", "name", "include"})


@dataclass
class Entry:
    """One corpus file and where it came from."""

    path: str  # relative to the corpus root
    kind: str  # "dockerfile" or "compose"
    origin: str  # "debian", "pypi", "npm" or "generated"
    package: str = ""
    version: str = ""
    source_path: str = ""  # path inside the package
    sha256: str = ""
    generated_from: str = ""  # corpus path of the real file a generated one was derived from
    mutations: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    kind: str
    origin: str
    package: str
    version: str
    source_path: str
    text: str


def _normal(text: str) -> str:
    """What counts as "the same file": line endings and trailing blanks do not."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip() + "\n"


_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.I)
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


def _logical_lines(text: str) -> Iterator[str]:
    """Instructions as the builder sees them: continuations joined, comments and heredoc bodies dropped.

    Honours the `# escape=` parser directive; comment and blank lines inside a continuation do
    not end it; the body of a heredoc (`RUN <<EOF` ... `EOF`) belongs to its instruction.
    """
    raw_lines = text.splitlines()
    escape = "\\"
    for raw in raw_lines:
        m = _ESCAPE_DIRECTIVE.match(raw.strip())
        if m:
            escape = m.group(1)
        if not raw.strip().startswith("#"):
            break
    buf = ""
    it = iter(raw_lines)
    for raw in it:
        s = raw.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and (not s or s.startswith("#")):
            continue  # comment and blank lines inside a continuation are ignored by the builder
        if s.endswith(escape):
            buf += s[:-1] + " "
            continue
        buf += s
        for _dash, _q, word in _HEREDOC.findall(buf):
            for body in it:
                if body.strip() == word:
                    break
        yield buf.strip()
        buf = ""
    if buf.strip():
        yield buf.strip()


def looks_like_dockerfile(text: str) -> bool:
    """A build file a person wrote: instructions only, a FROM first, no template syntax.

    Templates (Jinja, ERB, EJS, Go templates) are not Dockerfiles until rendered, and every
    linter would report them as parse errors, which measures nothing useful.
    """
    if "{%" in text or "<%" in text or "{{" in text.split("RUN", 1)[0]:
        return False
    lines = list(_logical_lines(text))
    if not lines or len(lines) > 2000:
        return False
    words = [ln.split(None, 1)[0].upper() for ln in lines]
    if any(w not in INSTRUCTIONS for w in words):
        return False
    first = next((w for w in words if w != "ARG"), "")
    return first == "FROM"


def _compose_services(doc: object) -> bool:
    if not isinstance(doc, dict):
        return False
    services = doc.get("services")
    if isinstance(services, dict) and services:
        keys = {k for k in doc if isinstance(k, str)}
        if not all(k in _COMPOSE_TOP or k.startswith("x-") for k in keys):
            return False
        return all(isinstance(v, dict) for v in services.values()) and any(
            "image" in v or "build" in v or "extends" in v for v in services.values()
        )
    return False


def _compose_v1(doc: object) -> bool:
    """The original format: services at the top level, no `services:` key."""
    return (
        isinstance(doc, dict)
        and bool(doc)
        and all(isinstance(v, dict) and ("image" in v or "build" in v or "extends" in v) for v in doc.values())
    )


def looks_like_compose(name: str, text: str) -> bool:
    """A compose file: by content (a `services:` mapping), or a v1 file under a compose name."""
    if "{%" in text or "{{" in text or "<%" in text:
        return False
    if not re.search(r"(?m)^services\s*:", text) and not _COMPOSE_NAME.search(name):
        return False
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if _compose_services(doc):
        return True
    return bool(_COMPOSE_NAME.search(name)) and _compose_v1(doc)


def classify(name: str, text: str) -> str | None:
    base = name.rsplit("/", 1)[-1]
    if (_DF_NAME.match(base) and not _NOT_DF_EXT.search(base)) or base.endswith((".dockerfile", ".Dockerfile")):
        return "dockerfile" if looks_like_dockerfile(text) else None
    if base.endswith((".yml", ".yaml")):
        return "compose" if looks_like_compose(base, text) else None
    return None


def _wanted_name(name: str) -> bool:
    """Cheap filter on member names before reading any content."""
    base = name.rsplit("/", 1)[-1]
    if base.endswith(".gz"):
        base = base[:-3]
    return bool(_DF_NAME.match(base) or base.endswith((".yml", ".yaml")))


def _members(fileobj: io.BufferedIOBase | tarfile.TarFile) -> Iterator[tuple[str, bytes]]:
    tf = fileobj if isinstance(fileobj, tarfile.TarFile) else tarfile.open(fileobj=fileobj, mode="r|*")
    for m in tf:
        if m.isfile() and m.size <= MAX_BYTES * 4 and _wanted_name(m.name):
            fh = tf.extractfile(m)
            if fh is None:
                continue
            data = fh.read()
            name = m.name
            if name.endswith(".gz"):
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError):
                    continue
                name = name[:-3]
            yield name, data


def _candidates(origin: str, package: str, version: str, files: Iterable[tuple[str, bytes]]) -> Iterator[Candidate]:
    for name, data in files:
        if len(data) > MAX_BYTES or b"\x00" in data[:4096]:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        kind = classify(name, text)
        if kind:
            yield Candidate(kind, origin, package, version, name.lstrip("./"), text)


# -- registries --------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _debian(log: list[str]) -> Iterator[Candidate]:
    """`apt-get download` each package (cached), then read the data tarball without extracting."""
    dest = DOWNLOADS / "debian"
    dest.mkdir(parents=True, exist_ok=True)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        log.append("debian: apt-get/dpkg-deb not found, skipped")
        return
    for pkg in DEBIAN:
        have = sorted(dest.glob(f"{pkg}_*.deb"))
        if not have:
            r = _run(["apt-get", "download", "-q", pkg], dest)
            have = sorted(dest.glob(f"{pkg}_*.deb"))
            if r.returncode != 0 or not have:
                log.append(f"debian {pkg}: download failed: {r.stderr.strip()[-200:]}")
                continue
        deb = have[-1]
        version = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        try:
            yield from _candidates("debian", pkg, version, _members(proc.stdout))  # type: ignore[arg-type]
        finally:
            proc.stdout.close()
            proc.wait()


def _pip_download(name: str, version: str, dest: Path) -> subprocess.CompletedProcess[str]:
    """pip prepares metadata even for `download`; old setup.py files need a setuptools with pkg_resources."""
    base = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(dest)]
    r = _run([*base, f"{name}=={version}"], dest)
    if r.returncode == 0:
        return r
    with tempfile.TemporaryDirectory() as tmp:
        pin = Path(tmp) / "build-constraints.txt"
        pin.write_text("setuptools<70\n")
        r = _run([*base, "--build-constraint", str(pin), f"{name}=={version}"], dest)
        if r.returncode != 0:  # pip before 25.3 applies PIP_CONSTRAINT to build environments instead
            env = dict(os.environ, PIP_CONSTRAINT=str(pin))
            r = subprocess.run(
                [*base, f"{name}=={version}"], cwd=dest, capture_output=True, text=True, env=env, check=False
            )
    return r


def _pypi(log: list[str]) -> Iterator[Candidate]:
    """Source distributions through pip (metadata is prepared, so old setup.py needs old setuptools)."""
    dest = DOWNLOADS / "pypi"
    dest.mkdir(parents=True, exist_ok=True)
    for name, version in PYPI:
        stem = re.sub(r"[-_.]+", "[-_.]", name)
        pattern = re.compile(rf"^{stem}-{re.escape(version)}\.(tar\.gz|zip|tar\.bz2)$", re.I)
        have = [p for p in dest.iterdir() if pattern.match(p.name)]
        if not have:
            r = _pip_download(name, version, dest)
            have = [p for p in dest.iterdir() if pattern.match(p.name)]
            if not have:
                log.append(f"pypi {name}=={version}: download failed: {r.stderr.strip()[-200:]}")
                continue
        sdist = have[0]
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                files = [(i.filename, zf.read(i)) for i in zf.infolist() if _wanted_name(i.filename)]
            yield from _candidates("pypi", name, version, files)
        else:
            with tarfile.open(sdist) as tf:
                yield from _candidates("pypi", name, version, _members(tf))


def _npm(log: list[str]) -> Iterator[Candidate]:
    """Package tarballs through `npm pack` (no install scripts run)."""
    dest = DOWNLOADS / "npm"
    dest.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    for name, version in NPM:
        fname = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
        tgz = dest / fname
        if not tgz.exists():
            if npm is None:
                log.append(f"npm {name}: npm not found, skipped")
                continue
            r = _run([npm, "pack", f"{name}@{version}", "--silent", "--pack-destination", str(dest)], dest)
            if r.returncode != 0 or not tgz.exists():
                log.append(f"npm {name}@{version}: download failed: {r.stderr.strip()[-200:]}")
                continue
        with tarfile.open(tgz) as tf:
            yield from _candidates("npm", name, version, _members(tf))


# -- generated variants ------------------------------------------------------------------

_SECRETS = (
    "ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ENV DB_PASSWORD=changeme",
    "ENV API_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
    "ARG NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz0123456789",
)


def _mutations(text: str) -> dict[str, str]:
    """Each applicable mutation of one Dockerfile: name -> mutated text."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    last_from = max((i for i, ln in enumerate(lines) if re.match(r"\s*FROM\s", ln, re.I)), default=0)
    tail = next(
        (i for i, ln in enumerate(lines) if i > last_from and re.match(r"\s*(CMD|ENTRYPOINT)\b", ln, re.I)),
        len(lines),
    )

    def insert(at: int, *new: str) -> str:
        return "\n".join([*lines[:at], *new, *lines[at:]]) + "\n"

    if any(re.match(r"\s*USER\s", ln, re.I) for ln in lines):
        out["remove-user"] = "\n".join(ln for ln in lines if not re.match(r"\s*USER\s", ln, re.I)) + "\n"
    else:
        out["add-user"] = insert(tail, "USER 10001")
    tagged = re.compile(r"^(\s*FROM\s+(?:--platform=\S+\s+)?)([\w./\-]+)(:[\w.\-]+)?(@sha256:[0-9a-f]+)?(.*)$", re.I)
    if any(tagged.match(ln) and tagged.match(ln).group(3) for ln in lines):  # type: ignore[union-attr]
        out["latest-tag"] = (
            "\n".join(tagged.sub(lambda m: f"{m.group(1)}{m.group(2)}:latest{m.group(5)}", ln) for ln in lines) + "\n"
        )
        out["untagged"] = (
            "\n".join(tagged.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(5)}", ln) for ln in lines) + "\n"
        )
    if "--no-install-recommends" in text:
        out["apt-recommends"] = text.replace(" --no-install-recommends", "")
    elif re.search(r"apt-get\s+(-\S+\s+)*install", text):
        out["apt-no-recommends"] = re.sub(r"apt-get(\s+-\S+)*\s+install", r"\g<0> --no-install-recommends", text)
    if "rm -rf /var/lib/apt/lists" in text:
        out["apt-keep-lists"] = re.sub(r"\s*&&\s*rm -rf /var/lib/apt/lists/\*?", "", text)
    if re.search(r"apt-get\s+install\s+-y", text):
        out["apt-no-yes"] = re.sub(r"(apt-get\s+install)\s+-y\b", r"\1", text)
    copy = re.compile(r"^(\s*)COPY(\s+)(?!--from)", re.I | re.M)
    if copy.search(text):
        out["copy-to-add"] = copy.sub(r"\1ADD\2", text, count=1)
    out["add-url"] = insert(last_from + 1, "ADD https://example.com/releases/tool-1.2.3.tar.gz /tmp/")
    out["env-secret"] = insert(last_from + 1, _SECRETS[len(text) % len(_SECRETS)])
    if not re.search(r"^\s*EXPOSE\s+22\b", text, re.M):
        out["expose-22"] = insert(tail, "EXPOSE 22")
    out["curl-pipe-sh"] = insert(last_from + 1, "RUN curl -fsSL https://example.com/install.sh | sh")
    out["sudo"] = insert(last_from + 1, "RUN sudo apt-get update")
    if re.search(r"^\s*HEALTHCHECK\b", text, re.M | re.I):
        out["remove-healthcheck"] = re.sub(r"(?m)^\s*HEALTHCHECK\b.*(\\\n.*)*$\n?", "", text)
    else:
        out["add-healthcheck"] = insert(tail, "HEALTHCHECK CMD curl -f http://localhost/ || exit 1")
    return out


_COMPOSE_MUTATIONS: tuple[tuple[str, dict[str, object]], ...] = (
    ("privileged", {"privileged": True}),
    ("docker-socket", {"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}),
    ("host-network", {"network_mode": "host"}),
    ("cap-add-all", {"cap_add": ["ALL"]}),
    ("ssh-port", {"ports": ["22:22"]}),
    ("env-secret", {"environment": {"POSTGRES_PASSWORD": "changeme"}}),
    ("hardened", {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}),
    ("pid-host", {"pid": "host"}),
)


def _mutate_compose(text: str, rng: random.Random) -> tuple[str, list[str]] | None:
    doc = yaml.safe_load(text)
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict) or not services:
        return None
    name = sorted(services, key=str)[rng.randrange(len(services))]
    label, change = _COMPOSE_MUTATIONS[rng.randrange(len(_COMPOSE_MUTATIONS))]
    svc = dict(services[name] or {})
    for k, v in change.items():
        if isinstance(v, list) and isinstance(svc.get(k), list):
            svc[k] = [*svc[k], *v]
        else:
            svc[k] = v
    services[name] = svc
    return yaml.safe_dump(doc, sort_keys=False), [f"{label}:{name}"]


# -- build -------------------------------------------------------------------------------


def harvest(log: list[str]) -> list[Candidate]:
    """Every distinct real file, in registry then package order (stable across runs)."""
    seen: set[str] = set()
    out = []
    for source in (_debian, _pypi, _npm):
        for c in source(log):
            h = hashlib.sha256(_normal(c.text).encode()).hexdigest()
            if h not in seen:
                seen.add(h)
                out.append(c)
    return out


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", s.lstrip("@"))


def build_corpus(
    dst: Path,
    real: list[Candidate],
    log: list[str],
    min_dockerfiles: int = MIN_DOCKERFILES,
    min_compose: int = MIN_COMPOSE,
) -> None:
    """Write the distinct real files, then generated variants up to the minimum counts, and the manifest."""
    entries: list[Entry] = []
    per_pkg: Counter[tuple[str, str]] = Counter()
    texts: dict[str, list[tuple[str, str]]] = {"dockerfile": [], "compose": []}
    seen: set[str] = set()
    count: Counter[str] = Counter()

    def write(rel: str, text: str) -> None:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_text(text)

    for c in real:
        h = hashlib.sha256(_normal(c.text).encode()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        sub = "dockerfiles" if c.kind == "dockerfile" else "compose"
        key = (c.kind, f"{c.origin}-{_slug(c.package)}")
        per_pkg[key] += 1
        fname = "Dockerfile" if c.kind == "dockerfile" else "docker-compose.yml"
        rel = f"{sub}/real/{key[1]}/{per_pkg[key]:03d}/{fname}"
        write(rel, c.text)
        sha = hashlib.sha256(c.text.encode()).hexdigest()
        entries.append(Entry(rel, c.kind, c.origin, c.package, c.version, c.source_path, sha))
        texts[c.kind].append((rel, c.text))
        count[c.kind] += 1

    rng = random.Random(20240504)
    n = 0
    for _ in range(20):
        if count["dockerfile"] >= min_dockerfiles or not texts["dockerfile"]:
            break
        for rel_base, text in texts["dockerfile"]:
            if count["dockerfile"] >= min_dockerfiles:
                break
            options = _mutations(text)
            picks = rng.sample(sorted(options), k=min(len(options), rng.choice((1, 1, 2, 3))))
            mutated = text
            for p in picks:
                mutated = _mutations(mutated).get(p, mutated)
            h = hashlib.sha256(_normal(mutated).encode()).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            n += 1
            rel = f"dockerfiles/generated/{n:04d}/Dockerfile"
            write(rel, mutated)
            sha = hashlib.sha256(mutated.encode()).hexdigest()
            entries.append(Entry(rel, "dockerfile", "generated", sha256=sha, generated_from=rel_base, mutations=picks))
            count["dockerfile"] += 1
    m = 0
    for _ in range(20):
        if count["compose"] >= min_compose or not texts["compose"]:
            break
        for rel_base, text in texts["compose"]:
            if count["compose"] >= min_compose:
                break
            got = _mutate_compose(text, rng)
            if got is None:
                continue
            mutated, picks = got
            h = hashlib.sha256(_normal(mutated).encode()).hexdigest()
            if h in seen:
                continue
            seen.add(h)
            m += 1
            rel = f"compose/generated/{m:04d}/docker-compose.yml"
            write(rel, mutated)
            sha = hashlib.sha256(mutated.encode()).hexdigest()
            entries.append(Entry(rel, "compose", "generated", sha256=sha, generated_from=rel_base, mutations=picks))
            count["compose"] += 1

    manifest = {
        "about": "Harvested at bench time from registry packages (licenses stay with their authors; never "
        "commit this tree). origin=generated files are mutations of harvested ones.",
        "summary": summary(entries),
        "log": log,
        "files": [asdict(e) for e in entries],
    }
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))


def summary(entries: Iterable[Entry]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in entries:
        out.setdefault(e.kind, {}).setdefault(e.origin, 0)
        out[e.kind][e.origin] += 1
    return out


def _key() -> str:
    """Rebuild when this file changes (the package lists, filters and mutations live here)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def corpus() -> Path:
    """The corpus root: `dockerfiles/`, `compose/` and `manifest.json`, built once per version."""

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        log: list[str] = []
        build_corpus(dst, harvest(log), log)

    root = cached_build(f"config-corpus-{_key()}", build)
    for old in TEST_CACHE.glob("config-corpus-*"):  # earlier versions of this file built these
        if re.fullmatch(r"config-corpus-[0-9a-f]{12}(\.done)?", old.name) and old.name.split(".")[0] != root.name:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    return root


def manifest(root: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "manifest.json").read_text())
    return data


def main() -> None:
    root = corpus()
    m = manifest(root)
    files = m["files"]
    assert isinstance(files, list)
    print(root)
    print(json.dumps(m["summary"], indent=1))
    pk: Counter[tuple[str, str, str]] = Counter((f["kind"], f["origin"], f["package"]) for f in files)
    for (kind, origin, pkg), k in sorted(pk.items()):
        print(f"  {kind:10} {origin:9} {pkg:45} {k}")
    for line in m["log"]:  # type: ignore[attr-defined]
        print("note:", line)


if __name__ == "__main__":
    main()
