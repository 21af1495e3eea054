"""Parsers of kernel bytes: netlink framing, proc connector events, audit records and assembly.

Bad input (truncated, garbage, out of order, missing EOE) must give counted drops, never exceptions.
"""

from __future__ import annotations

import struct

import pytest

from customhouse.runtime.sources import audit as au
from customhouse.runtime.sources import netlink
from customhouse.runtime.sources import proc_connector as pc


def cn(what: int, body: bytes, idx: int = pc.CN_IDX_PROC) -> bytes:
    data = pc.PROC_EVENT_HDR.pack(what, 0, 123) + body
    return pc.CN_MSG.pack(idx, pc.CN_VAL_PROC, 0, 0, len(data), 0) + data


def test_fork_exec_exit_decoded() -> None:
    buf = netlink.pack(netlink.NLMSG_DONE, cn(pc.PROC_EVENT_FORK, struct.pack("=iiii", 10, 10, 11, 11)), 0)
    buf += netlink.pack(netlink.NLMSG_DONE, cn(pc.PROC_EVENT_EXEC, struct.pack("=ii", 11, 11)), 0)
    buf += netlink.pack(netlink.NLMSG_DONE, cn(pc.PROC_EVENT_UID, struct.pack("=iiII", 11, 11, 0, 1000)), 0)
    buf += netlink.pack(netlink.NLMSG_DONE, cn(pc.PROC_EVENT_EXIT, struct.pack("=iiII", 11, 11, 0, 17)), 0)
    events, bad = pc.parse_datagram(buf)
    assert bad == 0
    assert [(e.what, e.pid) for e in events] == [("fork", 11), ("exec", 11), ("uid", 11), ("exit", 11)]
    assert events[0].ppid == 10 and events[2].euid == 1000


def test_thread_clone_is_not_a_process() -> None:
    ev = pc.parse_cn_message(cn(pc.PROC_EVENT_FORK, struct.pack("=iiii", 10, 10, 12, 10)))
    assert ev is not None and ev.what == "clone_thread"


@pytest.mark.parametrize("cut", [0, 3, 16, 20, 30, 35])
def test_truncated_connector_messages_are_dropped(cut: int) -> None:
    whole = netlink.pack(netlink.NLMSG_DONE, cn(pc.PROC_EVENT_FORK, struct.pack("=iiii", 1, 1, 2, 2)), 0)
    events, bad = pc.parse_datagram(whole[:cut])
    assert events == [] and (bad >= 1 or cut == 0)


def test_truncated_payload_inside_valid_frame() -> None:
    payload = cn(pc.PROC_EVENT_FORK, struct.pack("=iiii", 1, 1, 2, 2))[:-8]
    assert pc.parse_cn_message(payload) is None


def test_garbage_and_foreign_connector_messages() -> None:
    assert pc.parse_datagram(b"\xff" * 64)[0] == []
    assert pc.parse_cn_message(cn(pc.PROC_EVENT_EXEC, struct.pack("=ii", 1, 1), idx=7)) is None
    assert pc.parse_cn_message(cn(0x1234, b"\0" * 16)) is None
    # a header claiming a length shorter than itself must not loop
    assert netlink.parse(struct.pack("=IHHII", 4, 3, 0, 0, 0))[0] == []


def test_netlink_error_code() -> None:
    assert netlink.error_code(struct.pack("=i", -17)) == 17
    assert netlink.error_code(b"\0\0") is None


def test_process_tree_inherits_and_lingers(tmp_path: object) -> None:
    tree = pc.ProcessTree(proc="/nonexistent", grace=0)
    parent = tree.ensure(100, 1)
    parent.cgroup = "/mycontainer"
    parent.args = ["sh", "-c", "x"]
    tree.handle(pc.ProcEvent("fork", 0, 101, 100))
    tree.handle(pc.ProcEvent("exec", 0, 101))  # /proc is gone: everything stays inherited
    child = tree.procs[101]
    assert child.cgroup == "/mycontainer" and child.ppid == 100 and child.args == ["sh", "-c", "x"]
    assert [p.pid for p in tree.ancestors(101)] == [100]
    tree.handle(pc.ProcEvent("exit", 0, 101))
    tree.expire()
    assert 101 not in tree.procs


def test_process_tree_ancestor_loop_stops() -> None:
    tree = pc.ProcessTree(proc="/nonexistent")
    tree.procs[5] = pc.ProcInfo(5, 6)
    tree.procs[6] = pc.ProcInfo(6, 5)
    assert [p.pid for p in tree.ancestors(5)] == [6]


# ------------------------------------------------------------------------------ audit

SYSCALL = (
    b"audit(1714564800.123:42): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd a2=0 a3=0 "
    b"items=1 ppid=1 pid=77 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 "
    b'tty=pts0 ses=4294967295 comm="cat" exe="/bin/busybox" key="customhouse"'
)


def test_parse_record_quoted_hex_and_header() -> None:
    r = au.parse_record(au.AUDIT_SYSCALL, SYSCALL)
    assert r is not None and r.serial == 42 and r.ts == 1714564800123000000
    assert r.fields["comm"] == "cat" and r.fields["exe"] == "/bin/busybox" and r.fields["a0"] == "ffffff9c"
    p = au.parse_record(au.AUDIT_PATH, b"audit(1.2:3): item=0 name=2F746D702F6120622063 nametype=NORMAL")
    assert p is not None and p.fields["name"] == "/tmp/a b c"


def test_execve_argv_plain_hex_and_split() -> None:
    r = au.parse_record(au.AUDIT_EXECVE, b'audit(1.0:1): argc=3 a0="sh" a1="-c" a2=6563686F2022686922')
    assert r is not None and au.execve_argv(r) == ["sh", "-c", 'echo "hi"']
    r = au.parse_record(au.AUDIT_EXECVE, b'audit(1.0:1): argc=2 a0="x" a1_len=6 a1[0]=616263 a1[1]=646566')
    assert r is not None and au.execve_argv(r) == ["x", "abcdef"]
    r = au.parse_record(au.AUDIT_EXECVE, b"audit(1.0:1): argc=999999999 a0=zz")
    assert r is not None and au.execve_argv(r) == ["zz"]


@pytest.mark.parametrize("payload", [b"", b"garbage", b"audit(", b"audit(1.2:x): a=b", b"\xff\xfe" * 50])
def test_garbage_records_are_counted(payload: bytes) -> None:
    asm = au.Assembler()
    assert asm.feed(au.AUDIT_SYSCALL, payload) == []
    assert asm.garbage == 1


def test_sockaddr_families() -> None:
    assert au.parse_sockaddr("0200115C7F0000010000000000000000") == ("ipv4", "127.0.0.1", 4444)
    v6 = "0A00005000000000" + "00000000000000000000000000000001" + "00000000"
    assert au.parse_sockaddr(v6) == ("ipv6", "::1", 80)
    assert au.parse_sockaddr("01002F72756E2F646F636B65722E736F636B00") == ("unix", "/run/docker.sock", None)
    assert au.parse_sockaddr("zz")[0] == "unknown" and au.parse_sockaddr("02")[0] == "unknown"
    assert au.parse_sockaddr("0200")[0] == "family2"


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_assembly_out_of_order_and_eoe() -> None:
    asm = au.Assembler()
    cwd = b'audit(1714564800.123:42): cwd="/"'
    path = b'audit(1714564800.123:42): item=0 name="/etc/shadow" nametype=NORMAL'
    other = b'audit(1714564800.124:43): cwd="/tmp"'
    assert asm.feed(au.AUDIT_PATH, path) == []
    assert asm.feed(au.AUDIT_CWD, other) == []
    assert asm.feed(au.AUDIT_CWD, cwd) == []
    assert asm.feed(au.AUDIT_SYSCALL, SYSCALL) == []
    out = asm.feed(au.AUDIT_EOE, b"audit(1714564800.123:42): ")
    assert len(out) == 1 and out[0].complete
    ev = out[0]
    assert ev.syscall is not None and ev.cwd is not None and ev.cwd.fields["cwd"] == "/"
    assert [p.fields["name"] for p in ev.paths] == ["/etc/shadow"]
    # a record for a released serial is late: counted, dropped
    assert asm.feed(au.AUDIT_PATH, path) == [] and asm.late == 1
    assert list(asm.open) == [43]


def test_assembly_missing_eoe_flushes_on_timeout() -> None:
    clock = Clock()
    asm = au.Assembler(timeout=0.5, clock=clock)
    asm.feed(au.AUDIT_SYSCALL, SYSCALL)
    assert asm.flush() == []
    clock.t = 1.0
    out = asm.flush()
    assert len(out) == 1 and not out[0].complete and asm.timed_out == 1


def test_assembly_bounded() -> None:
    asm = au.Assembler(max_open=3)
    released = []
    for serial in range(10):
        released += asm.feed(au.AUDIT_CWD, f'audit(1.0:{serial}): cwd="/"'.encode())
    assert len(asm.open) == 3 and asm.evicted == 7 and len(released) == 7


def test_non_syscall_records_ignored() -> None:
    asm = au.Assembler()
    assert asm.feed(1100, b"audit(1.0:1): pid=1 msg='x'") == [] and not asm.open


def test_rule_packing_layout() -> None:
    rule = au.AuditRule(("execve", "connect"), ((au.AUDIT_PID, au.AUDIT_NOT_EQUAL, 99),))
    raw = rule.pack()
    hdr = au.RULE_HDR.unpack_from(raw, 0)
    flags, action, count = hdr[:3]
    mask = hdr[3 : 3 + 64]
    assert (flags, action, count) == (au.AUDIT_FILTER_EXIT, au.AUDIT_ALWAYS, 3)
    assert mask[59 // 32] & (1 << (59 % 32)) and mask[42 // 32] & (1 << (42 % 32))
    fields = hdr[67 : 67 + 64]
    assert list(fields[:3]) == [au.AUDIT_ARCH, au.AUDIT_PID, au.AUDIT_FILTERKEY]
    assert raw[au.RULE_HDR.size :] == b"customhouse" and hdr[-1] == len("customhouse")


def test_status_unpack_short_payload() -> None:
    st = au.AuditStatus.unpack(struct.pack("=4I", 1, 1, 2, 77))
    assert st.enabled == 1 and st.pid == 77 and st.backlog_limit == 0
