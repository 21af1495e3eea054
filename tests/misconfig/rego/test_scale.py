"""Five policies over five hundred documents: one worker, one compiled bundle, one interpreter
reused for every document, with exact finding counts (the rate is measured in bench/, not here)."""

from __future__ import annotations

from pathlib import Path

from customhouse.misconfig.rego import load_policies
from customhouse.misconfig.runner import parse_document

DOCUMENTS = 500

RULES = {
    "privileged": 'svc.privileged == true\n  r := {"msg": sprintf("%s is privileged", [name]), '
    '"path": ["services", name, "privileged"]}',
    "host_network": 'svc.network_mode == "host"\n  r := {"msg": sprintf("%s uses the host network", [name]), '
    '"path": ["services", name, "network_mode"]}',
    "latest": 'endswith(svc.image, ":latest")\n  r := {"msg": sprintf("%s uses :latest", [name]), '
    '"line": input.lines[sprintf("services.%s.image", [name])]}',
    "docker_sock": 'some v in svc.volumes\n  startswith(v, "/var/run/docker.sock")\n'
    '  r := {"msg": sprintf("%s mounts the Docker socket", [name]), "path": ["services", name, "volumes"]}',
    "no_user": 'not svc.user\n  r := sprintf("%s runs as the image default user", [name])',
}


def compose(i: int) -> str:
    out = ["services:"]
    for j in range(5):
        out += [
            f"  svc{j}:",
            f"    image: registry.example.com/team/app{j}:{'latest' if (i + j) % 3 == 0 else '1.2.3'}",
            f"    privileged: {'true' if (i + j) % 4 == 0 else 'false'}",
            f"    network_mode: {'host' if (i + j) % 7 == 0 else 'bridge'}",
            "    environment:",
            *[f"      KEY_{k}: value{k}" for k in range(5)],
            "    ports:",
            '      - "8080:80"',
            "    volumes:",
            f"      - {'/var/run/docker.sock' if j == 0 else '/srv/data'}:/data",
        ]
        if j % 2:
            out.append("    user: app")
    return "\n".join(out) + "\n"


def test_five_policies_over_five_hundred_documents(tmp_path: Path) -> None:
    for n, (name, body) in enumerate(RULES.items()):
        (tmp_path / f"{name}.rego").write_text(
            f"package custom.perf.{name}\n\nimport rego.v1\n\n"
            f'metadata := {{"id": "PERF-{n}", "title": "{name}", "severity": "low", "file_types": ["compose"]}}\n\n'
            f"deny contains r if {{\n  some name, svc in input.data.services\n  {body}\n}}\n"
        )
    docs = [parse_document(compose(i), f"app{i}/compose.yaml", "compose") for i in range(DOCUMENTS)]
    with load_policies(tmp_path) as ps:
        findings = [f for d in docs for f in ps.evaluate(d)]
    by_id: dict[str, int] = {}
    for f in findings:
        by_id[f.id] = by_id.get(f.id, 0) + 1
    # Exact counts: every document has 5 services; the patterns above decide which match.
    expected = {
        "PERF-0": sum((i + j) % 4 == 0 for i in range(DOCUMENTS) for j in range(5)),
        "PERF-1": sum((i + j) % 7 == 0 for i in range(DOCUMENTS) for j in range(5)),
        "PERF-2": sum((i + j) % 3 == 0 for i in range(DOCUMENTS) for j in range(5)),
        "PERF-3": DOCUMENTS,
        "PERF-4": DOCUMENTS * 3,
    }
    assert by_id == expected
