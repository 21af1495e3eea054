""".NET deps.json analyzer. No .NET SDK is available here, so the fixture is written from the
documented `deps.json` format (runtimeTarget, targets, libraries keyed `Name/Version` with a
`type` of package, project or reference)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from customhouse.analyzers.base import AnalyzerError, Dispatcher
from customhouse.analyzers.dotnet import DotnetDepsAnalyzer, parse_deps_json
from customhouse.model import FileInfo
from customhouse.settings import Settings
from tests.lang.conftest import catalog_dir

DEPS = {
    "runtimeTarget": {"name": ".NETCoreApp,Version=v8.0", "signature": ""},
    "compilationOptions": {},
    "targets": {
        ".NETCoreApp,Version=v8.0": {
            "WebApp/1.0.0": {
                "dependencies": {"Newtonsoft.Json": "13.0.3", "Serilog": "3.1.1", "Shared.Lib": "1.0.0"},
                "runtime": {"WebApp.dll": {}},
            },
            "Newtonsoft.Json/13.0.3": {"runtime": {"lib/net6.0/Newtonsoft.Json.dll": {}}},
            "Serilog/3.1.1": {"runtime": {"lib/net7.0/Serilog.dll": {}}},
            "Shared.Lib/1.0.0": {"runtime": {"Shared.Lib.dll": {}}},
            "Legacy.Interop/2.0.0.0": {"runtime": {"Legacy.Interop.dll": {}}},
        }
    },
    "libraries": {
        "WebApp/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
        "Newtonsoft.Json/13.0.3": {
            "type": "package",
            "serviceable": True,
            "sha512": "sha512-HrC5BXdl00IP9zeV+0Z848QWPAoCr9P3bDEZguI+gkLcBKAOxix/tLEAAHC+UvDNPv4a2d18lOReHMOagPa+zQ==",
            "path": "newtonsoft.json/13.0.3",
            "hashPath": "newtonsoft.json.13.0.3.nupkg.sha512",
        },
        "Serilog/3.1.1": {"type": "package", "serviceable": True, "sha512": "sha512-abc", "path": "serilog/3.1.1"},
        "Shared.Lib/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
        "Legacy.Interop/2.0.0.0": {"type": "reference", "serviceable": False, "sha512": ""},
    },
}


def test_libraries_with_exact_values(tmp_path: Path, settings: Settings) -> None:
    app = tmp_path / "root" / "app"
    app.mkdir(parents=True)
    (app / "WebApp.deps.json").write_text(json.dumps(DEPS, indent=2))
    (app / "WebApp.runtimeconfig.json").write_text("{}")
    pkgs, warnings = catalog_dir(tmp_path / "root", settings, ["dotnet-deps"])
    assert not warnings
    assert {p.path for p in pkgs} == {"app/WebApp.deps.json"}
    got = sorted((p.name, p.version, p.type, p.purl, p.meta("library_type"), p.meta("path")) for p in pkgs)
    assert got == [
        ("Legacy.Interop", "2.0.0.0", "nuget", "pkg:nuget/Legacy.Interop@2.0.0.0", "reference", ""),
        ("Newtonsoft.Json", "13.0.3", "nuget", "pkg:nuget/Newtonsoft.Json@13.0.3", "package", "newtonsoft.json/13.0.3"),
        ("Serilog", "3.1.1", "nuget", "pkg:nuget/Serilog@3.1.1", "package", "serilog/3.1.1"),
        ("Shared.Lib", "1.0.0", "nuget", "pkg:nuget/Shared.Lib@1.0.0", "project", ""),
        ("WebApp", "1.0.0", "nuget", "pkg:nuget/WebApp@1.0.0", "project", ""),
    ]
    nj = next(p for p in pkgs if p.name == "Newtonsoft.Json")
    assert nj.meta("sha512") == DEPS["libraries"]["Newtonsoft.Json/13.0.3"]["sha512"]  # type: ignore[index]


def test_malformed_and_degenerate() -> None:
    with pytest.raises(ValueError):
        parse_deps_json(b"{", "a.deps.json")
    with pytest.raises(AnalyzerError):
        parse_deps_json(b'{"libraries": []}', "a.deps.json")
    with pytest.raises(AnalyzerError):
        parse_deps_json(b"[]", "a.deps.json")
    assert parse_deps_json(b'{"runtimeTarget": {}}', "a.deps.json") == []
    odd = {
        "libraries": {
            "NoVersion": {"type": "package"},
            "A/": {"type": "package"},
            "B/1.0": "x",
            "Microsoft.NETCore.App.Runtime.linux-x64/8.0.0": {"type": "runtimepack"},
            "C/2.0": {"type": "package"},
        }
    }
    assert [(p.name, p.version) for p in parse_deps_json(json.dumps(odd).encode(), "a.deps.json")] == [("C", "2.0")]


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("app/WebApp.deps.json", True),
        ("app/.deps.json", False),
        ("app/deps.json", False),
        ("app/x.deps.json.bak", False),
    ],
)
def test_required(path: str, wanted: bool) -> None:
    a = DotnetDepsAnalyzer()
    assert (a in Dispatcher([a]).wanting(FileInfo(path, "file", 10))) is wanted
