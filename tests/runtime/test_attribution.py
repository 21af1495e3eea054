"""Container ids from real-format cgroup paths, and metadata from runc state and OCI config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from customhouse.runtime.agent import AuditConverter
from customhouse.runtime.attribution import Attributor, container_id_from_cgroup, load_state
from customhouse.runtime.sources import audit as au
from customhouse.runtime.sources import netlink
from customhouse.runtime.sources import proc_connector as pc

H = "3f1c2bd0e9a84f7d5b6a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/docker/{H}", (H[:12], "docker")),
        (f"/system.slice/docker-{H}.scope", (H[:12], "docker")),
        (f"/kubepods/besteffort/pod0a1b2c3d-1111-2222-3333-444455556666/{H}", (H[:12], "kubernetes")),
        (
            f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_1111.slice/cri-containerd-{H}.scope",
            (H[:12], "containerd"),
        ),
        (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/crio-{H}.scope", (H[:12], "cri-o")),
        (f"/kubepods/burstable/podabc/crio-{H}", (H[:12], "cri-o")),
        (f"/machine.slice/libpod-{H}.scope", (H[:12], "podman")),
        (f"/machine.slice/libpod-{H}.scope/container", (H[:12], "podman")),
        ("/system.slice/runc-mycontainer.scope", ("mycontainer", "runc")),
        ("/user.slice/user-0.slice/session-3.scope", None),
        (f"/machine.slice/libpod-conmon-{H}.scope", None),
        ("/", None),
        ("", None),
        ("/system.slice/ssh.service", None),
    ],
)
def test_container_id_from_cgroup(path: str, expected: tuple[str, str] | None) -> None:
    assert container_id_from_cgroup(path) == expected


def _runc_state(root: Path, cid: str, bundle: Path, cgroup: str) -> None:
    (root / cid).mkdir(parents=True)
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text(
        json.dumps(
            {
                "annotations": {"io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25"},
                "mounts": [{"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro"]}],
            }
        )
    )
    state = {
        "id": cid,
        "created": "2024-05-01T12:00:00.5Z",
        "config": {
            "rootfs": str(bundle / "rootfs"),
            "labels": [
                "io.kubernetes.cri.sandbox-name=web-0",
                "io.kubernetes.cri.sandbox-namespace=prod",
                "io.kubernetes.cri.container-name=nginx",
                f"bundle={bundle}",
            ],
        },
        "cgroup_paths": {"": f"/sys/fs/cgroup/{cgroup.lstrip('/')}"},
    }
    (root / cid / "state.json").write_text(json.dumps(state))


def test_runc_state_metadata(tmp_path: Path) -> None:
    _runc_state(tmp_path / "run", "abc", tmp_path / "bundle", "/mine/abc")
    info = load_state(str(tmp_path / "run" / "abc" / "state.json"))
    assert info is not None
    assert info.bundle == str(tmp_path / "bundle") and info.rootfs == str(tmp_path / "bundle" / "rootfs")
    c = info.container
    assert (c.id, c.name, c.image_repository, c.image_tag) == ("abc", "nginx", "docker.io/library/nginx", "1.25")
    assert c.mounts is not None and c.mounts[0].dest == "/data" and c.mounts[0].rw is False
    assert c.start_ts == 1714564800500000000
    assert (info.k8s.pod_name, info.k8s.ns_name) == ("web-0", "prod")


def test_attributor_any_runc_cgroup_path(tmp_path: Path) -> None:
    _runc_state(tmp_path / "run", "abc", tmp_path / "bundle", "/mine/abc")
    att = Attributor(roots=(str(tmp_path / "run"),), rescan_interval=0)
    info = att.lookup("/mine/abc")
    assert info is not None and info.id == "abc" and info.k8s.pod_name == "web-0"
    sub = att.lookup("/mine/abc/sub")  # a nested cgroup of the container is still the container
    assert sub is not None and sub.id == "abc"
    assert att.lookup("/user.slice") is None


@pytest.mark.parametrize("content", ["", "{", "[]", '{"config": 5}', '{"config": {"labels": [1, "x"]}}'])
def test_broken_state_files(tmp_path: Path, content: str) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "state.json").write_text(content)
    info = load_state(str(tmp_path / "x" / "state.json"))
    assert info is None or info.id == "x"


def test_attributor_follows_a_deleted_and_recreated_id(tmp_path: Path) -> None:
    """Test runs reuse ids and paths: a cached container must not outlive its runtime state."""
    run = tmp_path / "run"
    _runc_state(run, "abc", tmp_path / "b1", "/mine/abc")
    att = Attributor(roots=(str(run),), rescan_interval=0)
    first = att.lookup("/mine/abc")
    assert first is not None and first.bundle == str(tmp_path / "b1")
    shutil.rmtree(run / "abc")
    _runc_state(run, "abc", tmp_path / "b2", "/other/abc")
    again = att.lookup("/other/abc")
    assert again is not None and again.id == "abc" and again.bundle == str(tmp_path / "b2")
    assert att.lookup("/mine/abc") is None  # the old cgroup no longer points at the container
    shutil.rmtree(run / "abc")
    assert att.lookup("/third") is None and att.lookup("/other/abc") is None


def test_attributor_host_answer_is_rechecked(tmp_path: Path) -> None:
    """A cgroup seen before the runtime wrote state.json becomes the container once it exists."""
    run = tmp_path / "run"
    run.mkdir()
    att = Attributor(roots=(str(run),), rescan_interval=0)
    assert att.lookup("/late") is None
    _runc_state(run, "late", tmp_path / "b", "/late")
    info = att.lookup("/late")
    assert info is not None and info.id == "late"


def test_hybrid_state_paths_map_to_the_unified_cgroup(tmp_path: Path) -> None:
    """cgroup v1 + unified (runc's hybrid mode): /proc shows "0::/abc" for .../unified/abc."""
    run = tmp_path / "run"
    _runc_state(run, "abc", tmp_path / "b", "/unified/abc")
    att = Attributor(roots=(str(run),), rescan_interval=0)
    info = att.lookup("/abc")
    assert info is not None and info.id == "abc"


def test_audit_record_length_quirk() -> None:
    """kauditd's nlmsg_len leaves out the header: the record's last 16 bytes must not be cut."""
    text = b'audit(1.002:7): argc=2 a0="cat" a1="/etc/shadow"'
    buf = netlink.NLMSG_HDR.pack(len(text), au.AUDIT_EXECVE, 0, 0, 0) + text
    (msg,) = au.split_datagram(buf)
    assert msg.payload == text
    rec = au.parse_record(msg.type, msg.payload)
    assert rec is not None and au.execve_argv(rec) == ["cat", "/etc/shadow"]
    ack = netlink.pack(netlink.NLMSG_ERROR, b"\0" * 20, seq=3)  # correctly framed replies stay as they are
    assert [(m.type, m.seq, len(m.payload)) for m in au.split_datagram(ack)] == [(netlink.NLMSG_ERROR, 3, 20)]


def test_process_moved_by_its_parent_into_a_container_cgroup(tmp_path: Path) -> None:
    """`runc exec`: the host parent writes the child into the container's cgroup.procs; the child
    (and what it forks) belongs to the container even when it died before /proc could be read."""
    run = tmp_path / "run"
    _runc_state(run, "abc", tmp_path / "b", "/unified/abc")
    att = Attributor(roots=(str(run),), rescan_interval=0)
    tree = pc.ProcessTree(proc="/nonexistent")
    conv = AuditConverter(tree, att)
    runc = tree.ensure(10, 1)
    runc.cgroup = "/"
    tree.handle(pc.ProcEvent("fork", 0, 11, 10))  # runc:[2:INIT], still in the host cgroup
    tree.handle(pc.ProcEvent("fork", 0, 12, 11))  # something it forks later
    assert conv._moved_cgroup(tree.procs[11]) is None
    conv._note_cgroup_join(runc, "/etc/hosts", 1)  # not a cgroup file
    conv._note_cgroup_join(runc, "unified/abc/cgroup.procs", 0)  # read only
    assert runc.joins is None
    conv._note_cgroup_join(runc, "unified/abc/cgroup.procs", None)  # openat2: flags unknown
    assert runc.joins == ("/", "/abc")
    assert conv._moved_cgroup(tree.procs[11]) == "/abc"
    assert conv._moved_cgroup(tree.procs[12]) == "/abc"
    other = tree.ensure(20, 1)
    other.cgroup = "/user.slice"
    assert conv._moved_cgroup(other) is None
