"""Helpers for the NetworkPolicy tests: manifests from short specs, matrices as readable grids.

Expected matrices are written as grids (`|`-separated, rows are sources, columns destinations,
`ext` the outside of the cluster) so a scenario states every cell, denied ones included, the way
a reviewer would draw it. Workloads are named by their object name, unique inside a scenario.
"""

from __future__ import annotations

from collections.abc import Sequence

from customhouse.misconfig.engine import Document, Options
from customhouse.misconfig.k8s.netpol import Analysis, ExternalAccess, analyze, describe_addresses
from customhouse.misconfig.k8s.objects import tree_document
from customhouse.misconfig.runner import parse_document, run_checks
from customhouse.report.findings import Finding


def deploy(
    name: str,
    namespace: str = "prod",
    labels: dict[str, str] | None = None,
    ports: Sequence[tuple[str, int, str]] = (),
    unnamed: Sequence[int] = (),
) -> str:
    """A Deployment whose pod template has `labels` (default app=<name>) and container ports
    (name, number, protocol) plus unnamed `unnamed` ports."""
    labels = {"app": name} if labels is None else labels
    lab = "{" + ", ".join(f"{k}: {v!r}" for k, v in labels.items()) + "}"
    port_lines = [f"        - {{name: {n}, containerPort: {p}, protocol: {proto}}}" for n, p, proto in ports]
    port_lines += [f"        - {{containerPort: {p}}}" for p in unnamed]
    ports_block = ("        ports:\n" + "\n".join(port_lines) + "\n") if port_lines else ""
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        "spec:\n"
        f"  selector: {{matchLabels: {lab}}}\n"
        "  template:\n"
        f"    metadata: {{labels: {lab}}}\n"
        "    spec:\n"
        "      containers:\n"
        "      - name: main\n"
        "        image: registry.example.com/app:1.0\n" + ports_block
    )


def namespace(name: str, labels: dict[str, str]) -> str:
    lab = "{" + ", ".join(f"{k}: {v!r}" for k, v in labels.items()) + "}"
    return f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {lab}}}\n"


def manifests(*parts: str) -> str:
    return "---\n".join(p if p.endswith("\n") else p + "\n" for p in parts)


def docs_of(text: str, path: str = "manifests.yaml") -> list[Document]:
    return [parse_document(text, path, "kubernetes")]


def analyze_text(text: str) -> Analysis:
    return analyze(docs_of(text))


def scan(*files: tuple[str, str]) -> list[Finding]:
    """Findings of every kubernetes-tree check for (path, text) files taken as one tree."""
    docs = [parse_document(text, path, "kubernetes") for path, text in files]
    return run_checks(tree_document(".", docs), Options())


def hits(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.id == check_id]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"{needle!r} not in fixture")


def _ext_label(access: ExternalAccess) -> str:
    return access.label()


def grid(a: Analysis) -> dict[tuple[str, str], str]:
    """Every cell of the matrix, asked pair by pair (`allowed`, `from_external`, `to_external`)."""
    names = [w.obj.name for w in a.workloads]
    assert len(set(names)) == len(names), "scenario workloads need unique names"
    out: dict[tuple[str, str], str] = {}
    for i, src in enumerate(names):
        for j, dst in enumerate(names):
            out[(src, dst)] = a.allowed(i, j).label()
        out[(src, "ext")] = _ext_label(a.to_external(i))
        out[("ext", src)] = _ext_label(a.from_external(i))
    return out


def grid_from_connections(a: Analysis) -> dict[tuple[str, str], str]:
    """The same cells rebuilt from `connections()` (the class-cached path the reports use)."""
    name = {w.id: w.obj.name for w in a.workloads}
    name["external"] = "ext"
    out = {(s, d): "" for s in [*name.values()] for d in [*name.values()] if not (s == d == "ext")}
    ext: dict[tuple[str, str], list[str]] = {}
    for c in a.connections():
        key = (name[c.src], name[c.dst])
        if "ext" in key:
            full = c.ports.is_all and describe_addresses(c.addresses) == "0.0.0.0/0, ::/0"
            ext.setdefault(key, []).append("all" if full else f"{describe_addresses(c.addresses)}: {c.ports.label()}")
        else:
            out[key] = c.ports.label()
    for key, parts in ext.items():
        out[key] = "; ".join(parts)
    return out


def parse_grid(text: str) -> dict[tuple[str, str], str]:
    rows = [r for r in text.strip("\n").splitlines() if r.strip()]
    header = [c.strip() for c in rows[0].split("|")][1:]
    out: dict[tuple[str, str], str] = {}
    for r in rows[1:]:
        cells = [c.strip() for c in r.split("|")]
        src = cells[0]
        assert len(cells) - 1 == len(header), f"row {src!r} has {len(cells) - 1} cells for {len(header)} columns"
        for dst, cell in zip(header, cells[1:], strict=True):
            if src == dst == "ext":
                continue
            out[(src, dst)] = cell
    return out
