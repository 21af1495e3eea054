"""Registers the Kubernetes commands: `k8s` (posture scan), `rbac` (who-can, paths), `netpol`.

Each command family lives in its own module and defines its own arguments; importing them must
stay cheap (no YAML, regopy or rich at import time) because every `customhouse --help` builds
these parsers.
"""

from __future__ import annotations

from typing import Any


def add_k8s_commands(sub: Any) -> None:
    from customhouse.misconfig.k8s import netpol_cli, posture_cli, rbac_cli

    posture_cli.add_commands(sub)
    rbac_cli.add_commands(sub)
    netpol_cli.add_commands(sub)
