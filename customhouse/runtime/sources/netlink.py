"""Netlink message framing (struct nlmsghdr, uapi/linux/netlink.h), shared by the sources.

The parser takes the kernel's bytes as untrusted: a message whose length is shorter than its
header or runs past the buffer ends the walk (the rest of the datagram is counted as garbage)
instead of raising, because one bad datagram must not stop the agent.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

NLMSG_HDR = struct.Struct("=IHHII")  # nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4


class NlMsg(NamedTuple):
    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


def align(n: int) -> int:
    """NLMSG_ALIGN: messages in one datagram start on 4-byte boundaries."""
    return (n + 3) & ~3


def pack(msg_type: int, payload: bytes, flags: int = NLM_F_REQUEST, seq: int = 0, pid: int = 0) -> bytes:
    """One netlink message: header plus payload, padded to the alignment."""
    length = NLMSG_HDR.size + len(payload)
    return NLMSG_HDR.pack(length, msg_type, flags, seq, pid) + payload + b"\0" * (align(length) - length)


def parse(buf: bytes) -> tuple[list[NlMsg], int]:
    """All well-formed messages of a datagram, and how many bytes at the end were not parseable."""
    out: list[NlMsg] = []
    off = 0
    n = len(buf)
    while off + NLMSG_HDR.size <= n:
        length, mtype, flags, seq, pid = NLMSG_HDR.unpack_from(buf, off)
        if length < NLMSG_HDR.size or off + length > n:
            break
        out.append(NlMsg(mtype, flags, seq, pid, bytes(buf[off + NLMSG_HDR.size : off + length])))
        off += align(length)
    return out, max(0, n - off)


def iter_messages(buf: bytes) -> Iterator[NlMsg]:
    msgs, _ = parse(buf)
    yield from msgs


def error_code(payload: bytes) -> int | None:
    """The errno of an NLMSG_ERROR payload (0 is an ACK), None when truncated."""
    if len(payload) < 4:
        return None
    err: int = struct.unpack_from("=i", payload, 0)[0]
    return -err


SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def set_rcvbuf(sock: socket.socket, size: int) -> None:
    """A receive buffer of `size` bytes, beyond net.core.rmem_max when we may (root).

    Why force: the kernel drops what does not fit (ENOBUFS for us, `lost` for audit), and the
    agent reads in batches (and may be starved of CPU for a moment on a busy node); rmem_max is
    often a few hundred KiB, a few milliseconds of a busy host's audit records.
    """
    for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, size)
            return
        except OSError:
            continue
