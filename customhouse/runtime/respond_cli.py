"""`customhouse runtime release ID`: undo a network quarantine.

Kept out of `runtime/cli.py` so that the response code stays importable on its own; the
`runtime` command registers it with `add_release_command(actions)`, `actions` being the
subparsers object of `runtime`.

Exit codes: 0 released (or nothing left to undo: the namespace is gone), 2 usage,
3 no quarantine recorded for ID or the undo failed (the message says why).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from customhouse.errors import EXIT_OK, InputError, UsageError


def add_release_command(rsub: Any) -> None:
    """Register `release` on the `runtime` subparsers object."""
    p = rsub.add_parser(
        "release",
        help="undo the network quarantine of a container",
        description="Delete the nftables table the agent added to container ID's network namespace, "
        "exactly as recorded in the state directory (docs/runtime-responses.md). --list shows the "
        "quarantined containers.",
        epilog="Exit codes: 0 released, 2 usage, 3 nothing recorded for ID or the undo failed.",
    )
    p.set_defaults(func=cmd_release)
    p.add_argument("container_id", metavar="ID", nargs="?", help="container id as shown in the alert")
    p.add_argument("--list", action="store_true", help="list quarantined containers and exit")
    p.add_argument("--dry-run", action="store_true", help="show what would be undone, change nothing")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="quarantine records (default: $CUSTOMHOUSE_STATE_DIR or <cache dir>/runtime/state)",
    )
    p.add_argument("--runc-root", type=Path, help="runc --root of the container (default: runc's, /run/runc)")
    p.add_argument("--cache-dir", type=Path, help="cache directory (default: $CUSTOMHOUSE_CACHE_DIR)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    p.add_argument("--debug", action="store_true", help="verbose diagnostics on stderr")


def _state_dir(args: argparse.Namespace) -> Path:
    from customhouse.runtime.respond import default_state_dir

    if args.state_dir is not None:
        return Path(args.state_dir)
    if getattr(args, "cache_dir", None) is not None and not os.environ.get("CUSTOMHOUSE_STATE_DIR"):
        return Path(args.cache_dir) / "runtime" / "state"
    return default_state_dir()


def cmd_release(args: argparse.Namespace) -> int:
    from customhouse.runtime.respond import Responder, quarantined, state_file

    state_dir = _state_dir(args)
    if args.list:
        for cid in quarantined(state_dir):
            sys.stdout.write(f"{cid}\t{state_file(state_dir, cid)}\n")
        return EXIT_OK
    if not args.container_id:
        raise UsageError("release: give a container ID (or --list)")
    runc_root = args.runc_root
    if runc_root is None:
        # The record knows which runc root the agent used.
        import json

        try:
            rec = json.loads(state_file(state_dir, args.container_id).read_text())
            runc_root = Path(rec["runc_root"]) if rec.get("runc_root") else None
        except (OSError, ValueError, KeyError, TypeError):
            runc_root = None
    r = Responder(state_dir=state_dir, runc_root=runc_root, dry_run=args.dry_run).release(args.container_id)
    if not r.ok:
        raise InputError(f"release {args.container_id}: {r.error}")
    if not args.quiet:
        sys.stderr.write(f"customhouse: {r.detail}\n")
    return EXIT_OK
