"""`config` and `k8s` over several processes (`--jobs`) report exactly what one process reports.

The tree is big enough (over `PARALLEL_MIN_FILES` candidate files) that `--jobs 2` really
forks, and mixes every kind of outcome a worker has to send back: findings of each file type,
secrets, inline suppressions, warnings for broken files (in the middle of the file list, so
their order is tested), and Kubernetes objects that the tree-level RBAC and NetworkPolicy
checks need all at once in the parent.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest

from customhouse.misconfig.runner import PARALLEL_MIN_FILES, scan_tree
from tests.helpers import run_cli


def _token(rng: random.Random) -> str:
    """A GitHub-shaped token made up at test time (never a real credential)."""
    return "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))


def _dockerfile(i: int, rng: random.Random) -> str:
    base = rng.choice(["debian:12", "alpine", "ubuntu:latest", "python:3.12-slim@sha256:" + "a" * 64])
    user = "" if i % 3 == 0 else "USER 1000\n"
    secret = f"ENV API_TOKEN={_token(rng)}\n" if i % 7 == 0 else ""
    ignore = "# customhouse:ignore=CH-DF-025 tracked elsewhere\n" if i % 5 == 0 else ""
    return (
        f"FROM {base}\n{secret}{ignore}RUN apt-get update && apt-get install -y curl\n"
        f"RUN chmod 777 /srv && curl -fsSL https://example.org/i.sh | sh\n{user}CMD app --port {8000 + i}\n"
    )


def _deployment(i: int) -> str:
    privileged = "true" if i % 4 == 0 else "false"
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i}
  namespace: ns{i % 3}
spec:
  selector:
    matchLabels: {{app: app{i}}}
  template:
    metadata:
      labels: {{app: app{i}}}
    spec:
      hostNetwork: {"true" if i % 6 == 0 else "false"}
      containers:
        - name: main
          image: registry.example/app{i}:1.{i}
          securityContext:
            privileged: {privileged}
            runAsNonRoot: true
"""


RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ops-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: deployer
    namespace: ns1
"""

NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all
  namespace: ns0
spec:
  podSelector: {}
  ingress:
    - from:
        - ipBlock: {cidr: 0.0.0.0/0}
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("parallel")
    for i in range(50):
        d = root / f"svc{i:02d}"
        d.mkdir()
        (d / "Dockerfile").write_text(_dockerfile(i, rng))
        (d / "deploy.yaml").write_text(_deployment(i))
        if i % 8 == 0:
            (d / "docker-compose.yml").write_text(
                f"services:\n  web:\n    image: web:{i}\n    privileged: true\n"
                f"    environment:\n      GITHUB_TOKEN: {_token(rng)}\n"
            )
    (root / "svc10" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\ndata: [unclosed\n")
    (root / "svc20" / "Containerfile").write_bytes(b"FROM x\x00\x01\x02 binary")
    (root / "svc30" / "Dockerfile.bad").write_text("FROM alpine\nNOTANINSTRUCTION x\n")
    (root / "svc05" / "rbac.yaml").write_text(RBAC)
    (root / "svc35" / "netpol.yaml").write_text(NETPOL)
    encoded = base64.b64encode(_token(rng).encode()).decode()
    (root / "svc15" / "secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: gh\n  namespace: ns0\ndata:\n  token: {encoded}\n"
    )
    return root


def test_tree_is_big_enough_to_fork(tree: Path) -> None:
    candidates = [p for p in tree.rglob("*") if p.is_file()]
    assert len(candidates) >= 2 * PARALLEL_MIN_FILES


@pytest.mark.parametrize("command", ["config", "k8s"])
def test_jobs_give_the_same_report(tree: Path, tmp_path: Path, command: str) -> None:
    reports = {}
    for jobs in ("1", "2", "3"):
        run = run_cli(command, str(tree), "-f", "json", "--jobs", jobs, cache_dir=tmp_path / "cache")
        assert run.code == 0, run.err
        reports[jobs] = run.out
    assert reports["1"] == reports["2"] == reports["3"]
    doc = json.loads(reports["1"])
    ids = {f["id"] for f in doc["findings"]}
    kinds = {f["kind"] for f in doc["findings"]}
    assert any(i.startswith("CH-K8S-PSS") for i in ids), ids
    assert any(i.startswith("CH-K8S-RBAC") for i in ids), ids  # tree-level: a forked child with --jobs > 1
    assert any(i.startswith("CH-K8S-NP") for i in ids), ids
    assert "secret" in kinds
    assert any("broken.yaml:4: invalid YAML" in w for w in doc["warnings"]), doc["warnings"]
    if command == "config":
        assert any(i.startswith("CH-DF") for i in ids) and any(i.startswith("CH-DC") for i in ids)
        assert any(f["suppressed"] for f in doc["findings"])
        assert any("Containerfile" in w and "binary" in w for w in doc["warnings"]), doc["warnings"]
        assert any("Dockerfile.bad" in w for w in doc["warnings"]), doc["warnings"]


_API_SCRIPT = """
import json, os, sys
from pathlib import Path
from customhouse.misconfig import runner
tree, cache = Path(sys.argv[1]), Path(sys.argv[2])
forked = runner._fork_safe()
files_made, part_files = [], runner._part_files
def spy(n):
    fds = part_files(n)
    files_made.append(len(fds))
    return fds
runner._part_files = spy
fds_before = len(os.listdir("/proc/self/fd"))
two = runner.scan_tree(tree, jobs=2, cache_dir=cache)  # forks: the workers load BuildKit's parser
fds_after = len(os.listdir("/proc/self/fd"))
runner._part_files = lambda n: []  # results back through the pool's pipe instead
piped = runner.scan_tree(tree, jobs=2, cache_dir=cache)
one = runner.scan_tree(tree, jobs=1, cache_dir=cache)  # loads it in this process
after = runner._fork_safe()
runs = (one, two, piped)
print(json.dumps({
    "forked": forked, "fork_safe_after": after, "part_files": files_made, "fds": [fds_before, fds_after],
    "findings": [[f.fingerprint for f in r.findings] for r in runs],
    "warnings": [r.warnings for r in runs],
    "scanned": [r.scanned for r in runs], "skipped": [r.skipped for r in runs],
    "evaluated": [r.evaluated for r in runs], "severity": [r.check_severity for r in runs],
}))
"""


def _in_fresh_process(script: str, *args: object) -> dict[str, Any]:
    """`script`'s JSON answer, run in a new single-threaded Python (which may fork workers).

    The scripts replace functions of the runner module to make workers die or count forks. A
    compiled runner (customhouse/_native.py) calls its own functions directly, past the module's
    attributes, so these runs load the pure-Python build."""
    import os
    import subprocess
    import sys

    from customhouse._native import PURE_ENV

    out = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env={**os.environ, PURE_ENV: "1"},
    ).stdout
    got: dict[str, Any] = json.loads(out)
    return got


def test_api_parts_merge_in_file_order(tree: Path, tmp_path: Path) -> None:
    """Through the API, in a fresh single-threaded process: two forked workers give the same
    result object (findings in order, warnings, counts, the checks each file was evaluated
    against) as one process, whether their results come back through memory files (Linux)
    or through the pool's pipe. Once BuildKit's parser (Go) is loaded in the process, forking
    is off: a forked child would hang at its first call into the Go runtime."""
    r = _in_fresh_process(_API_SCRIPT, str(tree), str(tmp_path))
    assert r["forked"] is True and r["fork_safe_after"] is False
    # the workers' results came back through one memory file per part, all closed afterwards
    assert r["part_files"] == [16] and r["fds"][0] == r["fds"][1]
    for key in ("findings", "warnings", "scanned", "skipped", "evaluated", "severity"):
        one, two, piped = r[key]
        assert one == two == piped, key
    assert len(r["warnings"][0]) == 3 and r["skipped"][0] == 3 and len(r["findings"][0]) > 100


_FAILING_CHILD_SCRIPT = """
import json, os, sys
from pathlib import Path
from customhouse.misconfig import runner
tree, cache, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
parent, scan_part = os.getpid(), runner._scan_part
def dies_on_a_part(job, lo, hi):
    if os.getpid() != parent and lo > 0:  # every child dies at its first part but the first one
        os._exit(7)
    return scan_part(job, lo, hi)
runner._scan_part = dies_on_a_part
forked_children = []
real_fork = os.fork
def counting_fork():
    pid = real_fork()
    if pid:
        forked_children.append(pid)
    return pid
os.fork = counting_fork
per_file_children = []
scan_files = runner._scan_files
def counted(job, jobs):
    got = scan_files(job, jobs)
    per_file_children.append(len(forked_children))  # before the tree-level checks fork theirs
    return got
runner._scan_files = counted
if mode == "manifests":
    got = runner.scan_tree(tree, jobs=3, cache_dir=cache, file_types=("kubernetes",))
else:
    got = runner.scan_tree(tree, jobs=3, cache_dir=cache, one_shot=mode == "one-shot")
os.fork = real_fork
runner._scan_part = scan_part
print(json.dumps({
    "children": per_file_children[0], "all_children": len(forked_children),
    "fork_safe_after": runner._fork_safe(),
    "go_loaded": "dockerfile" in sys.modules,
    "findings": [f.fingerprint for f in got.findings], "warnings": got.warnings, "scanned": got.scanned,
    "evaluated": got.evaluated,
}))
"""


@pytest.mark.parametrize("mode", ["library", "one-shot", "manifests"])
def test_parts_of_a_dead_worker_are_scanned_by_the_parent(tree: Path, tmp_path: Path, mode: str) -> None:
    """Workers take parts from a shared queue; a worker that dies leaves its part's memory file
    empty, and the parent scans that part itself: the result is the single-process one.

    How many workers fork, and whether the parent takes parts too: a library caller's process
    only waits (it must not load BuildKit's parser, or it could never fork again) unless the
    tree can hold no Dockerfile (`file_types=("kubernetes",)`); the command line (`one_shot`)
    always works alongside its workers."""
    r = _in_fresh_process(_FAILING_CHILD_SCRIPT, str(tree), str(tmp_path), mode)
    types = ("kubernetes",) if mode == "manifests" else ()
    one = scan_tree(tree, jobs=1, cache_dir=tmp_path, file_types=types)
    assert r["findings"] == [f.fingerprint for f in one.findings] and len(r["findings"]) > 50
    assert r["warnings"] == one.warnings and r["scanned"] == one.scanned
    assert r["evaluated"] == {k: [list(p) for p in v] for k, v in one.evaluated.items()}
    assert r["children"] == (3 if mode == "library" else 2)
    # and the RBAC tree-level checks in a child of their own, also once BuildKit's parser is loaded
    assert r["all_children"] == r["children"] + 1
    # the parent loaded BuildKit's parser only where it had to: for the parts the dead children
    # left, in the library case, and for its own parts on the command line
    assert r["go_loaded"] is (mode != "manifests")
    assert r["fork_safe_after"] is (mode == "manifests")


_NO_PIPES_SCRIPT = """
import json, os, sys
from pathlib import Path
from customhouse.misconfig import runner
tree, cache = Path(sys.argv[1]), Path(sys.argv[2])
def no_pipe():
    raise OSError(24, "Too many open files")
os.pipe = no_pipe
made = []
part_files = runner._part_files
def spy(n):
    made.extend(part_files(n))
    return made
runner._part_files = spy
got = runner.scan_tree(tree, jobs=2, cache_dir=cache, one_shot=True)
left = []
for fd in os.listdir("/proc/self/fd"):
    try:
        left.append(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        pass
print(json.dumps({"made": len(made), "left": [x for x in left if "customhouse-part" in x],
                  "findings": [f.fingerprint for f in got.findings]}))
"""


def test_no_descriptors_for_the_queue_scans_in_one_process(tree: Path, tmp_path: Path) -> None:
    """When the queue's pipes cannot be made (out of descriptors), the scan runs in this one
    process, and the parts' memory files are closed."""
    r = _in_fresh_process(_NO_PIPES_SCRIPT, str(tree), str(tmp_path))
    one = scan_tree(tree, jobs=1, cache_dir=tmp_path)
    assert r["findings"] == [f.fingerprint for f in one.findings]
    assert r["made"] == 16 and r["left"] == []  # the parts' memory files were made, and closed


def test_more_jobs_than_files(tree: Path, tmp_path: Path) -> None:
    """`--jobs` beyond the number of files (or of part numbers a pipe holds) forks one worker
    per part at most, and gives the single-process report."""
    runs = [run_cli("config", str(tree), "-f", "json", "--jobs", j, cache_dir=tmp_path / "c") for j in ("1", "5000")]
    assert runs[0].code == runs[1].code == 0, runs[1].err
    assert runs[0].out == runs[1].out


def test_a_part_cut_short_is_not_taken_for_a_result() -> None:
    """A worker killed while writing leaves a partial pickle: it reads as missing, not as data."""
    import os
    import pickle

    from customhouse.misconfig.runner import ScanResult, _part_files, _read_part

    fds = _part_files(3)
    assert len(fds) == 3
    try:
        data = pickle.dumps((ScanResult(warnings=["w"]), []))
        os.pwrite(fds[0], data, 0)
        os.pwrite(fds[1], data[: len(data) // 2], 0)
        whole = _read_part(fds[0])
        assert whole is not None and whole[0].warnings == ["w"]
        assert _read_part(fds[1]) is None
        assert _read_part(fds[2]) is None  # never written
        assert os.fstat(fds[0]).st_size == 0  # emptied once read: its memory is given back
    finally:
        for fd in fds:
            os.close(fd)


def test_threaded_callers_scan_in_their_own_process(tree: Path, tmp_path: Path) -> None:
    """This test process has threads (and may have parsed Dockerfiles): `jobs=2` must not fork
    (it would risk a hang) and still give the full result."""
    one = scan_tree(tree, jobs=1, cache_dir=tmp_path)
    two = scan_tree(tree, jobs=2, cache_dir=tmp_path)
    assert [f.fingerprint for f in one.findings] == [f.fingerprint for f in two.findings]
    assert one.warnings == two.warnings and len(one.warnings) == 3


def test_cache_dir_holds_the_compiled_secret_rules(tree: Path, tmp_path: Path) -> None:
    """`config --cache-dir DIR` keeps the compiled secret rules in DIR, not in the user's cache."""
    mine, other = tmp_path / "mine", tmp_path / "default"
    run = run_cli("config", str(tree / "svc00"), "-f", "json", "--cache-dir", str(mine), cache_dir=other)
    assert run.code == 0, run.err
    assert any(p.is_file() for p in (mine / "secrets").glob("*")), list(mine.rglob("*"))
    assert not (other / "secrets").exists()


@pytest.mark.parametrize("value", ["-1", "two"])
def test_bad_jobs_is_a_usage_error(tree: Path, value: str) -> None:
    run = run_cli("config", str(tree), "--jobs", value)
    assert run.code == 2 and "--jobs" in run.err and "Traceback" not in run.err


@pytest.mark.parametrize("command", ["config", "k8s"])
def test_scanners_choose_what_runs(tree: Path, tmp_path: Path, command: str) -> None:
    """`--scanners misconfig` finds no secrets, `--scanners secret` runs no check (JUnit, which
    lists every check that ran per file, then has no misconfiguration test cases at all)."""
    cache = tmp_path / "cache"
    only_checks = run_cli(command, str(tree), "-f", "json", "--scanners", "misconfig", cache_dir=cache)
    only_secrets = run_cli(command, str(tree), "-f", "json", "--scanners", "secret", cache_dir=cache)
    assert only_checks.code == only_secrets.code == 0, (only_checks.err, only_secrets.err)
    checks = json.loads(only_checks.out)["findings"]
    secrets = json.loads(only_secrets.out)["findings"]
    assert checks and {f["kind"] for f in checks} == {"misconfiguration"}
    assert secrets and {f["kind"] for f in secrets} == {"secret"}
    junit = run_cli(command, str(tree), "-f", "junit", "--scanners", "secret", cache_dir=cache)
    assert "CH-K8S" not in junit.out and "CH-DF" not in junit.out
    bad = run_cli(command, str(tree), "--scanners", "vuln", cache_dir=cache)
    assert bad.code == 2 and "--scanners" in bad.err
