"""An image's configuration, history and filesystem as one misconfiguration `Document`.

A Dockerfile says what someone meant to build; the image says what was built: base-image
defaults (USER, HEALTHCHECK, EXPOSE) are inherited, build arguments leak into the history,
and a file deleted in a later layer is still in the layer that added it. So the image-config
checks (customhouse/misconfig/checks/imageconfig.py) read the cataloged image rather than any
source file, through the same engine as every other file type.

Where a violation is has no line number here; `Violation.json_path` names it instead:

- `$.config.User`, `$.config.Env[2]`, `$.config.Labels["key"]`, `$.config.ExposedPorts["22/tcp"]`,
  `$.config.Volumes["/data"]`, `$.config.Healthcheck`, `$.config.Entrypoint`, `$.config.Cmd`;
- `$.created`, `$.repo_tags[0]`, `$.history[3].created_by` (index in the config's full history,
  empty-layer steps included);
- `$.rootfs["/usr/bin/su"]` for a file of the final filesystem (`[...][n]` adds an entry in it);
- `$.layers[2].files["/root/.ssh/id_rsa"]` for a file as stored in layer 2 (0-based), and
  `$.layers[2].removed_by[4]` for what layer 4 removed from layer 2.

Messages count layers from 1, like the rest of customhouse. File-based violations carry the
layer in `extra` ("layer" = diff_id, "layer_index", "created_by", "path"), which
`scan_image_config` moves into the finding's `Location` until the engine contract carries them.

Reading /etc/passwd, /etc/shadow and sudoers needs file content, which the walker hands only to
analyzers: `customhouse.analyzers.imagefacts` records the few facts the checks need (never
password hashes) as notes cached with the layer; without them the checks that need them stay
silent rather than pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from customhouse.analyzers.base import Found
from customhouse.analyzers.imagefacts import FACTS_ANALYZER
from customhouse.image.fs import ImageFS
from customhouse.misconfig.engine import Document, Options, checks_for
from customhouse.misconfig.runner import to_finding
from customhouse.model import FileInfo, LayerInfo, TargetInfo
from customhouse.report.findings import Finding, fingerprint

if TYPE_CHECKING:
    from customhouse.image.scan import ImageAnalysis

FILE_TYPE = "image-config"

MAX_INPUT_REMOVALS = 20_000  # removal records handed to policies; a squash-and-delete can make millions


# ---------------------------------------------------------------------------- facts analyzer


@dataclass(frozen=True)
class Account:
    """One /etc/passwd entry; `empty_password` when its password field is empty (no shadow)."""

    name: str
    uid: int
    gid: int
    home: str = ""
    shell: str = ""
    empty_password: bool = False


@dataclass(frozen=True)
class PrivilegeRule:
    """A sudoers or doas.conf line that grants privileges without asking for a password."""

    path: str
    line: int
    text: str
    tool: str  # "sudo" or "doas"
    layer: int = -1


@dataclass(frozen=True)
class HistoryStep:
    """One entry of the image config's history; `layer` is -1 for steps that made no layer."""

    index: int
    created_by: str
    created: str = ""
    comment: str = ""
    empty_layer: bool = False
    layer: int = -1


@dataclass(frozen=True)
class LayerChanges:
    """What one layer did: the entries it carries and what it removed from the layers below."""

    index: int
    info: LayerInfo
    files: Sequence[FileInfo] = ()
    whiteouts: Sequence[str] = ()
    opaque_dirs: Sequence[str] = ()


@dataclass
class ImageConfig:
    """`Document.data` for the "image-config" file type.

    `accounts`, `empty_passwords` and `privilege_rules` are None when the image was cataloged
    without `ImageFactsAnalyzer`: "unknown" must not read as "no accounts".
    """

    target: TargetInfo
    config: Mapping[str, Any]
    history: tuple[HistoryStep, ...]
    layers: tuple[LayerChanges, ...]
    fs: ImageFS
    accounts: tuple[Account, ...] | None = None
    passwd_layer: int = -1
    empty_passwords: tuple[tuple[str, str, int], ...] | None = None  # (account, file, layer)
    privilege_rules: tuple[PrivilegeRule, ...] | None = None
    _layer_index: dict[int, dict[str, FileInfo]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ config views

    @property
    def has_config(self) -> bool:
        """False for root filesystems and SBOMs: no config means nothing is "unset" in one."""
        return bool(self.target.image_id or self.target.config or self.target.history)

    def env(self) -> list[tuple[int, str, str]]:
        """(index in Env, name, value) for every well-formed `NAME=value` entry."""
        out = []
        raw = self.config.get("Env")
        for i, item in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(item, str) and "=" in item:
                name, _, value = item.partition("=")
                out.append((i, name, value))
        return out

    def labels(self) -> dict[str, str]:
        raw = self.config.get("Labels")
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    def argv(self, key: str) -> list[str]:
        raw = self.config.get(key)
        if isinstance(raw, str):
            return [raw]
        return [str(x) for x in raw] if isinstance(raw, list) else []

    # ------------------------------------------------------------------ layers

    def layer_info(self, index: int) -> LayerInfo | None:
        return self.layers[index].info if 0 <= index < len(self.layers) else None

    def layer_label(self, index: int) -> str:
        """How messages name a layer: 1-based, with a short diff_id."""
        info = self.layer_info(index)
        if info is None:
            return f"layer {index + 1}"
        short = info.diff_id.partition(":")[2][:12]
        return f"layer {index + 1} ({short})" if short else f"layer {index + 1}"

    def created_by(self, index: int) -> str:
        info = self.layer_info(index)
        return info.created_by if info is not None else ""

    def layer_extra(self, index: int, path: str = "") -> tuple[tuple[str, str], ...]:
        """The `extra` pairs that locate a file-based violation (see the module docstring)."""
        out: list[tuple[str, str]] = []
        if path:
            out.append(("path", "/" + path.lstrip("/")))
        info = self.layer_info(index)
        if info is not None:
            out.append(("layer_index", str(index)))
            if info.diff_id:
                out.append(("layer", info.diff_id))
            if info.created_by:
                out.append(("created_by", info.created_by))
        return tuple(out)

    def layer_file(self, index: int, path: str) -> FileInfo | None:
        """The entry for `path` as stored in layer `index` (e.g. a version later removed)."""
        if not 0 <= index < len(self.layers):
            return None
        table = self._layer_index.get(index)
        if table is None:
            table = {f.path: f for f in self.layers[index].files}
            self._layer_index[index] = table
        return table.get(path)

    def step_for_layer(self, index: int) -> HistoryStep | None:
        for step in self.history:
            if step.layer == index:
                return step
        return None

    # ------------------------------------------------------------------ policies

    def to_input(self) -> dict[str, Any]:
        """A JSON-ready view for policy engines (Rego): everything but the file lists."""
        return {
            "target": {**self.target.to_dict()},
            "config": json.loads(json.dumps(self.config, default=str)),
            "history": [
                {
                    "created_by": h.created_by,
                    "created": h.created,
                    "comment": h.comment,
                    "empty_layer": h.empty_layer,
                    "layer": h.layer,
                }
                for h in self.history
            ],
            "layers": [
                {
                    "index": ly.index,
                    "diff_id": ly.info.diff_id,
                    "digest": ly.info.digest,
                    "created_by": ly.info.created_by,
                    "files": len(ly.files),
                    "whiteouts": list(ly.whiteouts),
                    "opaque_dirs": list(ly.opaque_dirs),
                }
                for ly in self.layers
            ],
            "accounts": None
            if self.accounts is None
            else [
                {"name": a.name, "uid": a.uid, "gid": a.gid, "home": a.home, "shell": a.shell} for a in self.accounts
            ],
            "empty_password_accounts": None
            if self.empty_passwords is None
            else [{"name": n, "path": p, "layer": ly} for n, p, ly in self.empty_passwords],
            "privilege_rules": None
            if self.privilege_rules is None
            else [{"path": r.path, "line": r.line, "text": r.text, "tool": r.tool} for r in self.privilege_rules],
            "removals": [
                {"path": r.path, "added_in": r.added_in, "removed_in": r.removed_in, "how": r.how}
                for r in self.fs.removals[:MAX_INPUT_REMOVALS]
            ],
            "removals_truncated": len(self.fs.removals) > MAX_INPUT_REMOVALS,
        }


def _history(target: TargetInfo, layers: Sequence[LayerInfo]) -> tuple[HistoryStep, ...]:
    raw = list(target.history)
    if not raw:
        # Sources that did not carry the full history: rebuild what the layers remember.
        return tuple(
            HistoryStep(index=i, created_by=li.created_by, created=li.created, comment=li.comment, layer=i)
            for i, li in enumerate(layers)
        )
    real = [i for i, h in enumerate(raw) if not h.get("empty_layer")]
    # Only pair steps with layers when the counts agree, as history_for_layers does: a wrong
    # pairing would blame the wrong build step.
    layer_of = {h_index: n for n, h_index in enumerate(real)} if len(real) == len(layers) else {}
    return tuple(
        HistoryStep(
            index=i,
            created_by=str(h.get("created_by", "")),
            created=str(h.get("created", "")),
            comment=str(h.get("comment", "")),
            empty_layer=bool(h.get("empty_layer")),
            layer=layer_of.get(i, -1),
        )
        for i, h in enumerate(raw)
    )


def _facts(found: Mapping[str, list[Found]] | None) -> dict[str, Any]:
    if found is None or FACTS_ANALYZER not in found:
        return {}
    accounts: list[Account] = []
    passwd_layer = -1
    empty: list[tuple[str, str, int]] = []
    rules: list[PrivilegeRule] = []
    for f in found[FACTS_ANALYZER]:
        for note in f.result.notes:
            data = note.data
            if note.kind == "passwd":
                passwd_layer = f.layer_index
                for row in data.get("accounts", ()):
                    name, uid, gid, home, shell, nopw = row
                    accounts.append(Account(str(name), int(uid), int(gid), str(home), str(shell), bool(nopw)))
                    if nopw:
                        empty.append((str(name), f.path, f.layer_index))
            elif note.kind == "shadow":
                empty.extend((str(name), f.path, f.layer_index) for name in data.get("empty", ()))
            elif note.kind == "privilege":
                tool = str(data.get("tool", "sudo"))
                rules.extend(
                    PrivilegeRule(f.path, int(n), str(t), tool, f.layer_index) for n, t in data.get("rules", ())
                )
    return {
        "accounts": tuple(accounts),
        "passwd_layer": passwd_layer,
        "empty_passwords": tuple(sorted(set(empty))),
        "privilege_rules": tuple(sorted(rules, key=lambda r: (r.path, r.line))),
    }


def image_document(analysis: ImageAnalysis) -> Document:
    """The image-config `Document` of a cataloged image (see `ImageConfig`)."""
    target = analysis.inventory.target
    infos = list(analysis.layer_infos)
    has_fs = bool(infos)  # an SBOM target has neither layers nor a filesystem
    results = analysis.layers if has_fs else []
    layers = tuple(
        LayerChanges(
            index=i,
            info=info,
            files=results[i].files if i < len(results) else (),
            whiteouts=tuple(results[i].whiteouts) if i < len(results) else (),
            opaque_dirs=tuple(results[i].opaque_dirs) if i < len(results) else (),
        )
        for i, info in enumerate(infos)
    )
    data = ImageConfig(
        target=target,
        config=dict(target.config),
        history=_history(target, infos),
        layers=layers,
        fs=analysis.fs if has_fs else ImageFS(),
        **_facts(analysis.found if has_fs else None),
    )
    text = json.dumps(
        {"config": data.config, "history": [dict(h) for h in target.history]}, indent=2, sort_keys=True, default=str
    )
    return Document(path=target.name, file_type=FILE_TYPE, text=text, data=data)


# ---------------------------------------------------------------------------- running the checks

_LOCATION_KEYS = frozenset({"path", "layer", "layer_index", "created_by"})


def _locate(f: Finding, data: ImageConfig) -> Finding:
    """Move the layer and file facts of `extra` into `Location`, where reports look for them.

    A stop-gap until `Violation` carries them (see the proposal in the issue-4 report); the
    resulting fields are the ones that change would fill, so fingerprints will not move.
    """
    detail = f.misconfiguration
    if detail is None or not any(k in _LOCATION_KEYS for k, _ in detail.extra):
        return f
    facts = dict(detail.extra)
    loc = f.location
    index = facts.get("layer_index", "")
    if index.isdigit() and "layer" not in facts:  # a policy may name the layer by index only
        info = data.layer_info(int(index))
        if info is not None:
            facts.setdefault("layer", info.diff_id)
            facts.setdefault("created_by", info.created_by)
    loc = replace(
        loc,
        path=facts["path"].lstrip("/") if facts.get("path") else loc.path,
        layer_digest=facts.get("layer", loc.layer_digest),
        layer_index=int(index) if index.lstrip("-").isdigit() else loc.layer_index,
        created_by=facts.get("created_by", loc.created_by),
    )
    out = replace(f, location=loc)
    return replace(out, fingerprint=fingerprint(out))


class PolicySet(Protocol):
    """Custom policies (customhouse.misconfig.rego) as far as this module needs them."""

    def evaluate(
        self, doc: Document, options: Options | None = None, skip: Iterable[str] = (), target: str = ""
    ) -> list[Finding]: ...


def scan_image_config(
    analysis: ImageAnalysis, options: Options, skip: Iterable[str] = (), policies: PolicySet | None = None
) -> list[Finding]:
    """Run every enabled image-config check (and custom policy) on a cataloged image."""
    skip = tuple(skip)
    doc = image_document(analysis)
    out: list[Finding] = []
    for c in checks_for(FILE_TYPE, skip):
        for v in c.run(doc, options):
            out.append(_locate(to_finding(doc, c, v, target=doc.path), doc.data))
    if policies is not None:
        out.extend(_locate(f, doc.data) for f in policies.evaluate(doc, options, skip, target=doc.path))
    return out
