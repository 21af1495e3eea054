"""The event model and its JSON-lines form: round trips, defaults, derived values, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from customhouse.errors import EXIT_INPUT
from customhouse.runtime.events import (
    HOST,
    NO_FD,
    Container,
    Event,
    EventFormatError,
    EventWriter,
    Fd,
    Process,
    event_from_dict,
    event_to_dict,
    format_time_iso,
    format_time_of_day,
    parse_time,
    read_events,
    render_open_flags,
)
from tests.runtime.evts import T0, audit_dict, connect, proc, syscall_dict


def test_round_trip_is_lossless() -> None:
    d = syscall_dict(
        "connect",
        proc("curl", args=["-s", "https://example.com"], tty=0, cap_permitted=["CAP_NET_RAW", "CAP_CHOWN"]),
        fd={
            "num": 3,
            "type": "ipv4",
            "l4proto": "tcp",
            "cip": "10.0.0.2",
            "cport": 5000,
            "sip": "192.0.2.1",
            "sport": 443,
        },
        res=-115,
    )
    e = event_from_dict(d)
    again = event_from_dict(json.loads(json.dumps(event_to_dict(e))))
    assert event_to_dict(again) == event_to_dict(e)
    assert again.proc.cap_permitted == "CAP_NET_RAW CAP_CHOWN"
    assert again.proc.ancestors[1].name == "containerd-shim"
    assert again.fd.name == "10.0.0.2:5000->192.0.2.1:443"
    a = event_from_dict(audit_dict("get", "secrets"))
    assert event_to_dict(event_from_dict(event_to_dict(a))) == event_to_dict(a)
    assert a.ts == parse_time("2024-05-01T12:00:00.123456Z")


def test_defaults_and_derived_values() -> None:
    e = Event("execve", T0, proc=Process(5, exepath="/usr/bin/python3.12", args=["-m", "http.server"]))
    assert e.container is HOST and e.container.id == "host" and e.fd is NO_FD
    assert e.proc.name == "python3.12" and e.proc.cmdline == "python3.12 -m http.server"
    f = Fd("/var/log/app/x.log")
    assert (f.type, f.typechar, f.directory, f.filename) == ("file", "f", "/var/log/app", "x.log")
    assert Fd("/x").directory == "/"
    assert Fd(cip="::1", cport=1, sip="2001:db8::1", sport=443).name == "[::1]:1->[2001:db8::1]:443"
    c = Container("abc", image="registry.example.com:5000/team/app:1.2@sha256:00")
    assert (c.image_repository, c.image_tag, c.image_digest) == (
        "registry.example.com:5000/team/app",
        "1.2",
        "sha256:00",
    )
    assert render_open_flags(0o1101) == "O_WRONLY|O_CREAT|O_TRUNC"
    assert render_open_flags(0o2000002) == "O_RDWR|O_CLOEXEC"
    assert format_time_iso(T0) == "2024-05-01T12:00:00.123456789Z"
    assert format_time_of_day(T0) == "12:00:00.123456789"
    assert parse_time("2024-05-01T12:00:00.123456789Z") == T0
    assert parse_time("2024-05-01T14:00:00.123456789+02:00") == T0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(source="cloudtrail"), "unknown event source"),
        (lambda d: d.pop("type"), "needs its type"),
        (lambda d: d.update(dir="?"), "dir"),
        (lambda d: d["proc"].update(pid="x"), "proc.pid: expected an integer"),
        (lambda d: d["proc"].update(name=["a"]), "proc.name: expected a string"),
        (lambda d: d["proc"].update(is_suid_exe="maybe"), "proc.is_suid_exe"),
        (lambda d: d["proc"].update(ancestors="x"), "proc.ancestors"),
        (lambda d: d.update(fd={"sport": "https"}), "fd.sport"),
        (lambda d: d.update(container={"mounts": {}}), "container.mounts"),
        (lambda d: d.update(args=[1]), "args: expected an object"),
        (lambda d: d.update(time="yesterday"), "RFC 3339"),
    ],
)
def test_invalid_events_name_the_key(mutate: object, message: str) -> None:
    d = syscall_dict("execve", proc("sh"))
    mutate(d)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        event_from_dict(d)


def test_numbers_as_text_are_accepted() -> None:
    d = syscall_dict("execve", proc("sh", pid="42", tty="0"))
    e = event_from_dict(d)
    assert e.proc.pid == 42 and e.proc.tty == 0


def test_writer_and_reader(tmp_path: Path) -> None:
    p = tmp_path / "rec.jsonl"
    events = [connect("192.0.2.1", 443), event_from_dict(audit_dict("get", "pods"))]
    with EventWriter(p) as w:
        for e in events:
            w.write(e)
    lines = p.read_text().splitlines()
    assert json.loads(lines[0]) == {"format": "customhouse-events", "version": 1}
    back = list(read_events(p))
    assert [event_to_dict(e) for e in back] == [event_to_dict(e) for e in events]
    assert [e.num for e in back] == [2, 3]


def test_reader_errors_name_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    good = json.dumps(syscall_dict("execve", proc("sh")))
    p.write_text(good + "\n\n" + '{"type": 5}\n')
    with pytest.raises(EventFormatError) as exc:
        list(read_events(p))
    assert exc.value.exit_code == EXIT_INPUT
    assert str(exc.value).startswith(f"{p}:3: invalid event")
    p.write_text(good + "\nnot json\n" + good + "\n")
    with pytest.raises(EventFormatError, match=":2: not a JSON event"):
        list(read_events(p))
    p.write_text('{"format": "customhouse-events", "version": 9}\n')
    with pytest.raises(EventFormatError, match="unsupported customhouse-events version 9"):
        list(read_events(p))


def test_a_recording_cut_short_replays_its_whole_lines(tmp_path: Path) -> None:
    p = tmp_path / "cut.jsonl"
    good = json.dumps(syscall_dict("execve", proc("sh")))
    p.write_text(good + "\n" + good[: len(good) // 2])
    assert len(list(read_events(p))) == 1
    with pytest.raises(EventFormatError):
        list(read_events(p, strict_tail=True))
