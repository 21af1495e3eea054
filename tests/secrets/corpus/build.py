"""The secret-scanning corpus of issue 6: planted secrets in varied contexts, and clean text.

Planted: every positive test string of every rule, expanded twice with seeds of our own (so
the values differ from the unit tests'), each placed in two contexts picked round-robin:
`.env` files, shell history, YAML, JSON, INI, TOML, Python / JavaScript / Go string literals,
an image-configuration-shaped JSON (`config.Env`), all at varied directory depths; rules
limited to named files (`paths`) get their named file. Separately, the same texts base64-
encoded into the `data` of Kubernetes Secret manifests (recall measured on its own: decoding
is a feature of the engine's callers, not of `Scanner.scan`).

Each planted file lives under its own root (`planted/fNNNN/<path>`, like an image layer); the
path reported to the scanner is relative to that root. `manifest.json` lists every plant.

Clean: the bookworm debootstrap root filesystem (tests/conftest.bookworm_rootfs), this
interpreter's standard library (without site-packages) and `node_modules` of a real `npm
install` of popular packages (built once into the test cache).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from customhouse.secrets.samples import expand, split_expected
from tests.conftest import ROOT, cached_build
from tests.secrets.conftest import BUILTIN_RULES, example_path

COPIES = 2  # expansions of each positive test string (different seeds, different values)
CONTEXTS = ("env", "history", "yaml", "json", "ini", "toml", "python", "js", "go", "image-env")
PER_FILE = 3  # plants per file in contexts that hold several
NPM_PACKAGES = (
    "express@4.21.2",
    "lodash@4.17.21",
    "axios@1.7.9",
    "react@18.3.1",
    "react-dom@18.3.1",
    "moment@2.30.1",
    "typescript@5.7.2",
    "webpack@5.97.1",
    "eslint@9.17.0",
    "jsonwebtoken@9.0.2",
    "dotenv@16.4.7",
    "pg@8.13.1",
    "mongoose@8.9.0",
    "@babel/core@7.26.0",
    "chalk@5.4.1",
    "commander@12.1.0",
)


@dataclass(frozen=True)
class Plant:
    rule_id: str
    root: str  # planted/fNNNN
    path: str  # relative to root: what the scanner is told
    context: str
    text: str  # the test string as planted, before its context is wrapped around it
    secret: str | None  # the marked secret, when the test string marks one


@dataclass(frozen=True)
class _Item:
    rule_id: str
    text: str
    secret: str | None
    path: str | None  # a named file (rules with `paths`)


def _items() -> list[_Item]:
    out = []
    for r in BUILTIN_RULES:
        for i, t in enumerate(r.positives):
            for k in range(COPIES):
                text, secret = split_expected(expand(t.text, f"corpus:{r.id}:{i}:{k}"))
                path = t.path or (example_path(r.paths[0]) if r.paths else None)
                out.append(_Item(r.id, text, secret, path))
    return out


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.split("\n"))


def _simple(text: str) -> bool:
    """Fits in a plain double-quoted string literal as it stands."""
    return "\n" not in text and '"' not in text and "\\" not in text


def _wrap(context: str, texts: list[str], n: int) -> tuple[str, str] | None:
    """(file name, content) of `texts` in `context`, or None when a text cannot live there."""
    name = f"svc{n % 7}"
    if context == "env":
        return ".env", "APP_ENV=production\nLOG_LEVEL=info\n" + "\n".join(texts) + "\nPORT=8080\n"
    if context == "history":
        lines = ["cd /srv/app", "ls -la", *texts, "git status", "exit"]
        return ".bash_history", "\n".join(lines) + "\n"
    if context == "yaml":
        body = "".join(f"  note{j}: |\n{_indent(t, 4)}\n" for j, t in enumerate(texts))
        return "config.yaml", f"service:\n  name: {name}\n  replicas: 2\n{body}logging:\n  level: info\n"
    if context == "json":
        members = []
        for j, t in enumerate(texts):
            if "\n" in t:
                return None
            members.append(f'  "setting{j}": "{t}"' if _simple(t) else f"  {t}")
        return "settings.json", '{\n  "name": "' + name + '",\n' + ",\n".join(members) + "\n}\n"
    if context == "ini":
        return "app.ini", f"[server]\nhost = {name}.internal\nport = 8080\n\n[credentials]\n" + "\n".join(texts) + "\n"
    if context == "toml":
        if any("'''" in t for t in texts):
            return None
        body = "".join(f"note{j} = '''\n{t}\n'''\n" for j, t in enumerate(texts))
        return "config.toml", f'[app]\nname = "{name}"\nworkers = 4\n\n[extra]\n{body}'
    (t,) = texts
    if context == "python":
        lit = f'"{t}"' if _simple(t) else (f'"""\n{t}\n"""' if '"""' not in t and not t.endswith('"') else None)
        return None if lit is None else ("settings.py", f"import os\n\nDEBUG = False\nCONFIG = {lit}\n")
    if context == "js":
        lit = f'"{t}"' if _simple(t) else (f"`{t}`" if "`" not in t and "${" not in t else None)
        src = f"'use strict';\n\nconst config = {lit};\nmodule.exports = config;\n"
        return None if lit is None else ("config.js", src)
    if context == "go":
        lit = f'"{t}"' if _simple(t) else (f"`{t}`" if "`" not in t else None)
        return None if lit is None else ("config.go", f"package config\n\nconst Settings = {lit}\n")
    if context == "image-env":
        if not _simple(t):
            return None
        env = ["PATH=/usr/local/bin:/usr/bin:/bin", t]
        return "config.json", json.dumps({"config": {"Env": env, "Cmd": ["/app"]}}, indent=2) + "\n"
    raise ValueError(context)


def _depth_dir(n: int) -> str:
    parts = ["srv", "app", "opt", "etc", "home/deploy", "var/lib/app", "usr/local/share/app"][n % 7].split("/")
    parts += [f"d{j}" for j in range(n % 9)]  # up to 8 directories deeper: files at depth
    return "/".join(parts)


def plan() -> tuple[list[Plant], dict[str, bytes]]:
    """Every plant and every file's content (keyed by root/path), deterministically."""
    items = _items()
    plants: list[Plant] = []
    files: dict[str, bytes] = {}
    pending: dict[str, list[_Item]] = {c: [] for c in CONTEXTS}
    counter = 0

    def emit(context: str, group: list[_Item]) -> bool:
        nonlocal counter
        wrapped = _wrap(context, [it.text for it in group], counter)
        if wrapped is None:
            return False
        name, content = wrapped
        root = f"planted/f{counter:04d}"
        path = f"{_depth_dir(counter)}/{name}"
        files[f"{root}/{path}"] = content.encode()
        plants.extend(Plant(it.rule_id, root, path, context, it.text, it.secret) for it in group)
        counter += 1
        return True

    multi = {"env", "history", "yaml", "json", "ini", "toml"}
    for n, it in enumerate(items):
        if it.path is not None:  # rules limited to named files: the file itself
            root = f"planted/f{counter:04d}"
            files[f"{root}/{it.path}"] = (it.text + "\n").encode()
            plants.append(Plant(it.rule_id, root, it.path, "named-file", it.text, it.secret))
            counter += 1
            continue
        for c in range(2):  # two contexts per expansion, round-robin, skipping those it cannot live in
            for step in range(len(CONTEXTS)):
                ctx = CONTEXTS[(n * 2 + c + step) % len(CONTEXTS)]
                if ctx in multi:
                    if _wrap(ctx, [it.text], 0) is None:
                        continue
                    pending[ctx].append(it)
                    if len(pending[ctx]) == PER_FILE:
                        emit(ctx, pending[ctx])
                        pending[ctx] = []
                    break
                if emit(ctx, [it]):
                    break
    for ctx, group in pending.items():
        if group:
            emit(ctx, group)

    # Kubernetes Secrets: every planted text base64-encoded in `data` (measured separately).
    for n, it in enumerate(items):
        if it.path is not None:
            continue
        root = f"k8s/f{n:04d}"
        path = f"{_depth_dir(n)}/secret-{n}.yaml"
        b64 = base64.b64encode(it.text.encode()).decode()
        manifest = (
            "apiVersion: v1\nkind: Secret\nmetadata:\n"
            f"  name: app-{n}\n  namespace: default\ntype: Opaque\ndata:\n  credentials: {b64}\n"
        )
        files[f"{root}/{path}"] = manifest.encode()
        plants.append(Plant(it.rule_id, root, path, "k8s-secret-base64", it.text, it.secret))
    return plants, files


def _key() -> str:
    """Rebuild when the rules, the sample generators or this builder change."""
    h = hashlib.sha256()
    for p in (
        ROOT / "customhouse/secrets/data/rules.yaml",
        ROOT / "customhouse/secrets/samples.py",
        Path(__file__),
    ):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def planted_corpus() -> Path:
    """`planted/`, `k8s/` and `manifest.json` in the test cache, built once per content."""

    def build(dst: Path) -> None:
        plants, files = plan()
        for rel, content in files.items():
            p = dst / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content)
        (dst / "manifest.json").write_text(json.dumps([asdict(p) for p in plants], indent=1))

    return cached_build(f"secrets-corpus-{_key()}", build)


def load_plants(corpus: Path) -> list[Plant]:
    return [Plant(**d) for d in json.loads((corpus / "manifest.json").read_text())]


def npm_node_modules() -> Path:
    """`node_modules` of `npm install` of popular packages (skips without npm or the registry)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")

    def build(dst: Path) -> None:
        dst.mkdir(parents=True)
        (dst / "package.json").write_text(json.dumps({"name": "corpus", "version": "0.0.0", "private": True}))
        env = {**os.environ, "npm_config_audit": "false", "npm_config_fund": "false"}
        env["npm_config_update_notifier"] = "false"
        cmd = ["npm", "install", "--ignore-scripts", "--no-package-lock", *NPM_PACKAGES]
        proc = subprocess.run(cmd, cwd=dst, env=env, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"npm install failed ({proc.returncode}): {proc.stderr[-1500:]}")

    try:
        return cached_build("secrets-corpus-npm-v1", build) / "node_modules"
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot build the npm corpus: {exc}")


def stdlib_dir() -> Path:
    """This interpreter's standard library (the venv's base installation)."""
    return Path(sysconfig.get_paths()["stdlib"])


def walk(root: Path, prefix: str = "", skip_dirs: frozenset[str] = frozenset()) -> Iterator[tuple[Path, str]]:
    """Regular files under `root` (symlinks not followed), sorted, with `prefix` + relative path."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        for fn in sorted(filenames):
            p = Path(dirpath, fn)
            if p.is_symlink() or not p.is_file():
                continue
            yield p, prefix + p.relative_to(root).as_posix()
