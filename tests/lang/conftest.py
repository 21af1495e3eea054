"""Real language-ecosystem artifacts, built once per machine with the ecosystems' own tools.

Each builder runs the real installer (pip, npm, yarn, pnpm, gem, composer) and records the
tool's own view of the result (importlib.metadata, `npm ls`, `composer show`, RubyGems'
spec loader) next to it, so tests compare our parsers with the tool, not with our beliefs.
Builders that need a missing tool or the network skip the tests that depend on them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from customhouse.catalog import catalog
from customhouse.model import Package
from customhouse.settings import Settings
from tests.conftest import cached_build

PYTHON = sys.executable
SITE = "usr/local/lib/python3.11/site-packages"
PIP = (PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps")

# Pinned so the fixtures (and the facts tests state about them) do not drift.
PIP_PACKAGES = (
    "six==1.16.0",
    "attrs==25.3.0",
    "packaging==24.2",
    "idna==3.10",
    "certifi==2024.8.30",
    "python-dateutil==2.9.0.post0",
    "typing_extensions==4.12.2",
    "zope.event==5.0",
    "PyYAML==6.0.2",
)

NPM_PROJECT = {
    "name": "customhouse-npm-fixture",
    "version": "1.0.0",
    "private": True,
    "license": "Apache-2.0",
    "dependencies": {
        "debug": "4.3.4",  # wants ms@2.1.2 while the project pins ms@2.0.0: a nested node_modules
        "ms": "2.0.0",
        "@babel/code-frame": "7.22.13",  # scoped packages, a few levels of transitive deps
        "my-ms": "npm:ms@2.1.3",  # an alias
        "resolve": "1.22.8",  # ships test fixtures with package.json files of their own
    },
    "devDependencies": {
        "is-number": "7.0.0",
        "@sindresorhus/is": "4.6.0",
        "chalk": "4.1.2",  # dev-only transitive deps (ansi-styles@4, supports-color@7, ...)
        "js-tokens": "4.0.0",  # also a production dep of @babel/highlight: not dev
    },
}

# Lock-file generators, fetched from the npm registry under aliases so versions coexist.
NPM_TOOLS = {
    "yarn1": "npm:yarn@1.22.22",
    "yarnberry": "npm:@yarnpkg/cli-dist@4.5.3",
    "pnpm7": "npm:pnpm@7.33.7",
    "pnpm8": "npm:pnpm@8.15.9",
    "pnpm9": "npm:pnpm@9.15.9",
}


def run(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run a tool; a failure fails the build with the tool's own output."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def build_or_skip(name: str, build: Any) -> Path:
    """`cached_build`, but a build that cannot reach its registry skips instead of erroring."""
    try:
        return cached_build(name, build)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot build fixture {name}: {str(exc)[:2000]}")


def catalog_dir(root: Path, settings: Settings, analyzers: Sequence[str]) -> tuple[list[Package], list[str]]:
    res = catalog(f"dir:{root}", settings, analyzers=analyzers)
    return list(res.inventory.packages), list(res.inventory.warnings)


def find_files(root: Path, name: str) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        if name in files:
            yield Path(dirpath) / name


# ---------------------------------------------------------------------------- Python


def _build_pip_site(dst: Path) -> None:
    site = dst / SITE
    site.mkdir(parents=True)
    run(
        [*PIP, "--target", site, *PIP_PACKAGES],
        cwd=dst.parent,
    )
    # A source build: pip builds the wheel from the sdist with setuptools in an isolated env.
    run(
        [*PIP, "--no-binary", ":all:", "--target", site, "toml==0.10.2"],
        cwd=dst.parent,
    )
    # distutils (still in 3.11's stdlib) writes the legacy single-file `name-version.egg-info`.
    proj = dst.parent / (dst.name + ".distutils")
    shutil.rmtree(proj, ignore_errors=True)
    proj.mkdir()
    (proj / "legacy_mod.py").write_text("VALUE = 1\n")
    (proj / "setup.py").write_text(
        "from distutils.core import setup\n"
        "setup(name='legacy-distutils-pkg', version='0.3.1', license='BSD-3-Clause', py_modules=['legacy_mod'])\n"
    )
    run(
        [PYTHON, "-W", "ignore", "setup.py", "-q", "install", "--install-lib", site, "--install-scripts", proj / "bin"],
        cwd=proj,
        env={"SETUPTOOLS_USE_DISTUTILS": "stdlib"},
    )
    shutil.rmtree(proj)
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session")
def pip_rootfs() -> Path:
    """A root filesystem whose site-packages pip, setuptools and distutils populated."""
    return build_or_skip("lang-pip-rootfs-v1", _build_pip_site)


# ---------------------------------------------------------------------------- npm


def _npm_ls_oracle(project: Path, omit_dev: bool) -> list[dict[str, Any]]:
    """Flatten `npm ls --all --json --long` into (name, version, relative package.json, dev)."""
    cmd = ["npm", "ls", "--all", "--json", "--long"] + (["--omit=dev"] if omit_dev else [])
    tree = json.loads(run(cmd, cwd=project))
    out: dict[str, dict[str, Any]] = {}
    stack = list((tree.get("dependencies") or {}).values())
    while stack:
        node = stack.pop()
        stack.extend((node.get("dependencies") or {}).values())
        path = node.get("path")
        if not path or node.get("missing"):
            continue
        rel = os.path.relpath(path, project)
        out[rel] = {
            "name": node["name"],
            "version": node["version"],
            "path": f"{rel}/package.json",
            "dev": bool(node.get("dev")),
        }
    return sorted(out.values(), key=lambda d: d["path"])


def _build_npm(dst: Path) -> None:
    need("npm")
    dst.mkdir(parents=True)
    env = {"npm_config_audit": "false", "npm_config_fund": "false", "npm_config_update_notifier": "false"}
    tools = dst / "tools"
    tools.mkdir()
    (tools / "package.json").write_text(json.dumps({"name": "tools", "version": "0.0.0", "private": True}))
    run(["npm", "install", "--no-save", "--ignore-scripts"] + [f"{k}@{v}" for k, v in NPM_TOOLS.items()], tools, env)

    project = dst / "project"
    project.mkdir()
    (project / "package.json").write_text(json.dumps(NPM_PROJECT, indent=2))
    run(["npm", "install", "--ignore-scripts"], project, env)
    oracle = {
        "all": _npm_ls_oracle(project, omit_dev=False),
        "prod": _npm_ls_oracle(project, omit_dev=True),
        "npm": run(["npm", "--version"], project).strip(),
    }
    (dst / "npm-ls.json").write_text(json.dumps(oracle, indent=1))

    locks = dst / "locks"

    def variant(name: str) -> Path:
        d = locks / name
        d.mkdir(parents=True)
        shutil.copy(project / "package.json", d)
        return d

    for v in (1, 2):
        d = variant(f"npm-v{v}")
        shutil.copy(project / "package-lock.json", d)  # same resolution, rewritten in the old format
        run(["npm", "install", "--package-lock-only", "--ignore-scripts", f"--lockfile-version={v}"], d, env)
    d = variant("npm-v3")
    shutil.copy(project / "package-lock.json", d)

    tm = tools / "node_modules"
    d = variant("yarn-v1")
    (d / ".yarnrc").write_text('registry "https://registry.npmjs.org/"\n')
    run(["node", tm / "yarn1/bin/yarn.js", "install", "--ignore-scripts", "--non-interactive", "--no-progress"], d)
    shutil.rmtree(d / "node_modules", ignore_errors=True)

    d = variant("yarn-berry")
    (d / ".yarnrc.yml").write_text(
        'npmRegistryServer: "https://registry.npmjs.org"\nnodeLinker: node-modules\n'
        "enableTelemetry: false\nenableGlobalCache: false\n"
    )
    run(["node", tm / "yarnberry/bin/yarn.js", "install", "--mode=update-lockfile"], d, {"YARN_IGNORE_PATH": "1"})
    shutil.rmtree(d / ".yarn", ignore_errors=True)

    for tool, lv in (("pnpm7", 5), ("pnpm8", 6), ("pnpm9", 9)):
        d = variant(f"pnpm-v{lv}")
        (d / ".npmrc").write_text("registry=https://registry.npmjs.org/\n")
        run(["node", tm / tool / "bin/pnpm.cjs", "install", "--lockfile-only", "--store-dir", dst / "pnpm-store"], d)
    shutil.rmtree(dst / "pnpm-store", ignore_errors=True)
    shutil.rmtree(tools)


@pytest.fixture(scope="session")
def npm_fixture() -> Path:
    """`project/` (npm install), `npm-ls.json` (npm's view), `locks/<variant>/` (real lock files)."""
    return build_or_skip("lang-npm-v1", _build_npm)


@pytest.fixture(scope="session")
def npm_oracle(npm_fixture: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((npm_fixture / "npm-ls.json").read_text())
    return data


# ---------------------------------------------------------------------------- Ruby

DEMO_GEMSPECS = {
    "customhouse-demo": """Gem::Specification.new do |spec|
  spec.name = "customhouse-demo"
  spec.version = "1.2.3"
  spec.summary = "fixture"
  spec.authors = ["customhouse"]
  spec.files = ["lib/customhouse_demo.rb"]
  spec.licenses = ["MIT", "Apache-2.0"]
end
""",
    "customhouse-native": """Gem::Specification.new do |s|
  s.name = 'customhouse-native'
  s.version = Gem::Version.new('0.4.0.pre1')
  s.summary = 'fixture'
  s.authors = ['customhouse']
  s.files = ['lib/customhouse_native.rb']
  s.platform = 'x86_64-linux'
  s.license = 'BSD-2-Clause'
end
""",
}


def _build_gems(dst: Path) -> None:
    gem = need("gem")
    src = dst.parent / (dst.name + ".src")
    shutil.rmtree(src, ignore_errors=True)
    home = dst / "usr/local/bundle"
    home.mkdir(parents=True)
    for name, spec in DEMO_GEMSPECS.items():
        d = src / name
        (d / "lib").mkdir(parents=True)
        (d / "lib" / (name.replace("-", "_") + ".rb")).write_text("# fixture\n")
        (d / f"{name}.gemspec").write_text(spec)
        run([gem, "build", f"{name}.gemspec"], d)
        built = next(d.glob("*.gem"))
        run([gem, "install", "--local", "--install-dir", home, "--ignore-dependencies", "--no-document", built], d)
    shutil.rmtree(src)


@pytest.fixture(scope="session")
def gem_home() -> Path:
    """A root filesystem with gems installed by `gem install` (generated specifications)."""
    return build_or_skip("lang-gems-v1", _build_gems)


# ---------------------------------------------------------------------------- Composer

COMPOSER_PACKAGES = {
    "acme-log": {"name": "acme/log", "version": "1.4.2", "license": "MIT", "require": {"acme/util": "^2.0"}},
    "acme-util": {"name": "acme/util", "version": "2.1.0", "license": ["Apache-2.0", "GPL-2.0-or-later"]},
    "acme-test": {"name": "acme/test-kit", "version": "v0.9.1", "license": "BSD-3-Clause", "type": "library"},
    "acme-meta": {"name": "acme/bundle", "version": "3.0.0", "type": "metapackage", "license": "proprietary"},
}
COMPOSER_APP = {
    "name": "acme/app",
    "license": "MIT",
    "require": {"acme/log": "^1.4", "acme/bundle": "^3.0"},
    "require-dev": {"acme/test-kit": "*"},
    "repositories": [{"packagist.org": False}, {"type": "path", "url": "../pkgs/*", "options": {"symlink": False}}],
}


def _build_composer(dst: Path) -> None:
    composer = need("composer")
    for d, doc in COMPOSER_PACKAGES.items():
        (dst / "pkgs" / d).mkdir(parents=True)
        (dst / "pkgs" / d / "composer.json").write_text(json.dumps(doc, indent=1))
    app = dst / "app"
    app.mkdir()
    (app / "composer.json").write_text(json.dumps(COMPOSER_APP, indent=1))
    env = {"COMPOSER_HOME": str(dst / "home"), "COMPOSER_NO_INTERACTION": "1", "COMPOSER_ALLOW_SUPERUSER": "1"}
    run([composer, "install", "--no-plugins", "--no-scripts", "--no-progress"], app, env)
    oracle = {
        "installed": json.loads(run([composer, "show", "--format=json"], app, env)).get("installed", []),
        "no_dev": json.loads(run([composer, "show", "--no-dev", "--format=json"], app, env)).get("installed", []),
        "locked": json.loads(run([composer, "show", "--locked", "--format=json"], app, env)).get("locked", []),
        "licenses": json.loads(run([composer, "licenses", "--format=json"], app, env)),
        "version": run([composer, "--version"], app, env).strip(),
    }
    (dst / "composer-oracle.json").write_text(json.dumps(oracle, indent=1))
    shutil.rmtree(dst / "home", ignore_errors=True)


@pytest.fixture(scope="session")
def composer_fixture() -> Path:
    """`app/` installed by real Composer from path repositories, plus `composer show` output."""
    return build_or_skip("lang-composer-v1", _build_composer)
