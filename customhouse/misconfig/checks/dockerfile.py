"""Checks for Dockerfiles (and Containerfiles): what an image will be built from, run as and contain.

Every check reads the model of customhouse/misconfig/dockerfile.py, never the raw text: stages
and what they inherit, variables substituted as BuildKit substitutes them, the effective USER
and WORKDIR of every instruction, and each RUN's scripts parsed into simple commands with their
pipelines and decoded package-manager calls. So `echo "curl x | sh"` pipes nothing, a cleanup
after `||` still counts, `USER root` in a base stage is seen by the stage built on it, and a
finding inside a heredoc points at its line in the file.

Three rules keep false positives down, which matters more here than the number of checks:

- a check stays silent when the answer depends on a variable whose value is only known at build
  time (the model lists those as `unresolved`), or on a word a script computes (`$OPTS`);
- image-size and hygiene checks look only at the stages that end up in the final image (the
  last stage and the stages it is built `FROM`); a builder stage's apt lists are never shipped.
  Checks about what a build trusts or leaks (downloads, secrets, signature checks) look at
  every stage, because a poisoned or leaky builder poisons or leaks through its artifacts;
- replacements are offered only when they are mechanical and checked against the source text
  (the word being edited must be exactly where the model says it is), so applying one never
  edits the wrong place.

Derived data several checks need (RUN lists, image references, shells per instruction) is
computed once per document and kept on the model (`DockerfileModel.memo`).
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from customhouse import _native
from customhouse.misconfig import shell
from customhouse.misconfig.checks._secrettext import (
    SecretHit,
    could_hold_secrets,
    redact,
    secret_file_name,
    text_hits,
)
from customhouse.misconfig.checks._secretvalues import secret_name, secret_reason
from customhouse.misconfig.dockerfile import DockerfileModel, Instruction, RunScript, Stage, expand
from customhouse.misconfig.engine import Document, Framework, Options, Violation, check
from customhouse.misconfig.imageref import ImageRef, parse_image_ref

FT = ("dockerfile",)
REF = "https://docs.docker.com/reference/dockerfile/"
BEST = "https://docs.docker.com/build/building/best-practices/"
BUILD_CHECKS = "https://docs.docker.com/reference/build-checks/"
SECRETS = "https://docs.docker.com/build/building/secrets/"
CACHE_MOUNTS = "https://docs.docker.com/build/cache/optimize/#use-cache-mounts"
CIS = "https://www.cisecurity.org/benchmark/docker"
NIST = "https://doi.org/10.6028/NIST.SP.800-190"


def _attack(technique: str) -> str:
    return "https://attack.mitre.org/techniques/" + technique.replace(".", "/") + "/"


# --------------------------------------------------------------------------------------------
# reading the model


def _model(doc: Document) -> DockerfileModel:
    return cast(DockerfileModel, doc.data)


@dataclass(frozen=True)
class _Run:
    """A RUN to look at: the instruction (for ONBUILD, its trigger), its stage, whether it ships."""

    ins: Instruction
    stage: Stage
    shipped: bool
    onbuild: bool = False


def _shipped_ids(m: DockerfileModel) -> frozenset[int]:
    return m.memo("df.shipped_ids", lambda: frozenset(s.index for s in m.shipped()))


def _runs(m: DockerfileModel, shipped_only: bool = False, triggers: bool = False) -> list[_Run]:
    """RUN instructions in file order; `triggers` adds `ONBUILD RUN`s, which run in child builds."""

    def compute() -> list[_Run]:
        ids = _shipped_ids(m)
        out: list[_Run] = []
        for st in m.stages:
            for ins in st.instructions:
                if ins.cmd == "RUN":
                    out.append(_Run(ins, st, st.index in ids))
                elif ins.cmd == "ONBUILD" and ins.trigger is not None and ins.trigger.cmd == "RUN":
                    out.append(_Run(ins.trigger, st, st.index in ids, onbuild=True))
        return out

    runs = m.memo("df.runs", compute)
    return [r for r in runs if (r.shipped or not shipped_only) and (triggers or not r.onbuild)]


def _commands(r: _Run) -> Iterator[tuple[RunScript, int, shell.SimpleCommand]]:
    return r.ins.commands()


def _in_chain(m: DockerfileModel, stage: Stage) -> list[Instruction]:
    """Every instruction the stage's image is built from, in build order (base stages first)."""
    out: list[Instruction] = []
    for st in reversed(m.base_chain(stage)):
        out.extend(st.instructions)
    return out


def _shell_of(m: DockerfileModel) -> dict[int, tuple[str, ...]]:
    """The SHELL in effect at every instruction (by `Instruction.index`), inherited through stages."""

    def compute() -> dict[int, tuple[str, ...]]:
        out: dict[int, tuple[str, ...]] = {}
        for st in m.stages:
            current: tuple[str, ...]
            if st.base_stage is not None:
                current = m.stages[st.base_stage].shell
            elif st.windows:
                current = ("cmd", "/S", "/C")
            else:
                current = ("/bin/sh", "-c")
            for ins in st.instructions:
                out[ins.index] = current
                if ins.cmd == "SHELL" and ins.json and ins.args:
                    current = ins.args
        return out

    return m.memo("df.shells", compute)


def _texts(ins: Instruction) -> str:
    """The instruction as written plus its heredoc bodies, for "is it configured anywhere" tests."""
    if not ins.heredocs:
        return ins.original
    return ins.original + "\n" + "\n".join(h.content for h in ins.heredocs)


def _dynamic(cmd: shell.SimpleCommand, start: int = 1) -> bool:
    """Whether words from `start` on are computed by the shell (`$OPTS`, `$(...)`): an option we
    look for may then be in them, so checks about missing options stay silent. A word that only
    ends in a variable (`pkg==$VERSION`) cannot become an option."""
    return any(w.text.startswith(("$", "`")) for w in cmd.words[start:])


# --------------------------------------------------------------------------------------------
# building violations


def _at_ins(ins: Instruction, message: str, fix: str = "", replacement: str = "", snippet: str = "") -> Violation:
    return Violation(
        message=message,
        line=ins.line,
        column=ins.column,
        end_line=ins.end_line,
        fix=fix,
        replacement=replacement,
        snippet=snippet,
    )


def _word_pos(ins: Instruction, rs: RunScript, w: shell.Word) -> tuple[int, int]:
    line, col = rs.position(w.start)
    return (line, col) if line > 0 else (ins.line, ins.column)


def _at_word(
    ins: Instruction,
    rs: RunScript,
    cmd: shell.SimpleCommand,
    message: str,
    word: shell.Word | None = None,
    fix: str = "",
    edit: tuple[int, str, str] | None = None,
    snippet: str = "",
) -> Violation:
    """A violation at a word of a RUN command (the command's first word by default).

    With `edit` (line, old text, new text) from `_insert_after`/`_replace_word`, the finding is
    placed on the edited line so the replacement covers exactly the snippet.
    """
    w = word if word is not None else (cmd.words[0] if cmd.words else None)
    if w is None:
        return _at_ins(ins, message, fix)
    line, col = _word_pos(ins, rs, w)
    if edit is not None and edit[0] == line:
        return Violation(
            message=message, line=line, column=col, end_line=line, fix=fix, snippet=edit[1], replacement=edit[2]
        )
    end_line = line
    if cmd.words:
        last, _ = _word_pos(ins, rs, cmd.words[-1])
        end_line = max(line, min(last, ins.end_line))
    return Violation(message=message, line=line, column=col, end_line=end_line, fix=fix, snippet=snippet)


def _located(doc: Document, ins: Instruction, rs: RunScript, w: shell.Word) -> tuple[int, int, str] | None:
    """(line, column, line text) when the word is written literally at the mapped position.

    Words from `sh -c '...'` strings, JSON-form RUNs, quoted or continued words are not, and get
    no mechanical replacement.
    """
    if rs.origin == "exec" or w.end - w.start != len(w.text) or not w.text:
        return None
    line, col = rs.position(w.start)
    if line <= 0 or line > len(doc.lines) or line < ins.line or line > ins.end_line:
        return None
    text = doc.lines[line - 1]
    if text[col - 1 : col - 1 + len(w.text)] != w.text:
        return None
    return line, col, text


def _insert_after(
    doc: Document, ins: Instruction, rs: RunScript, w: shell.Word, addition: str
) -> tuple[int, str, str] | None:
    loc = _located(doc, ins, rs, w)
    if loc is None:
        return None
    line, col, text = loc
    at = col - 1 + len(w.text)
    return line, text, text[:at] + addition + text[at:]


def _replace_word(
    doc: Document, ins: Instruction, rs: RunScript, w: shell.Word, new: str
) -> tuple[int, str, str] | None:
    loc = _located(doc, ins, rs, w)
    if loc is None:
        return None
    line, col, text = loc
    return line, text, text[: col - 1] + new + text[col - 1 + len(w.text) :]


def _keyword_line(doc: Document, ins: Instruction, new_rest: str, keyword: str = "") -> str:
    """The instruction's first line with everything after the keyword replaced by `new_rest`
    (and the keyword by `keyword`, in the case the author used)."""
    text = doc.lines[ins.line - 1] if 0 < ins.line <= len(doc.lines) else ""
    start = ins.column - 1
    written = text[start : start + len(ins.cmd)]
    kw = written
    if keyword:
        kw = keyword.lower() if written.islower() else keyword
    return text[:start] + kw + (" " + new_rest if new_rest else "")


def _single_line(ins: Instruction) -> bool:
    return ins.line == ins.end_line and not ins.heredocs


def _op_cmd(rs: RunScript, op: shell.PackageOp) -> shell.SimpleCommand:
    return rs.script.commands[op.command]


def _op_word(rs: RunScript, op: shell.PackageOp) -> shell.Word:
    cmd = _op_cmd(rs, op)
    idx = op.action_word if op.action_word >= 0 else op.manager_word
    return cmd.words[idx]


_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^/\s@]+@")


def _describe_cmd(cmd: shell.SimpleCommand, limit: int = 60) -> str:
    """A short form of the command for messages (URL passwords masked: messages are not redacted)."""
    text = " ".join(cmd.argv)
    if "://" in text:  # the pattern's own start: most commands have no URL to mask
        text = _URL_PASSWORD.sub(r"\1***@", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mask(text: str, secrets: Iterable[str]) -> str:
    """The source text with each secret value masked, so reports do not carry the credential."""
    for s in sorted({x for x in secrets if len(x) >= 4}, key=len, reverse=True):
        text = text.replace(s, s[:2] + "*" * min(len(s) - 2, 12))
    return text


# --------------------------------------------------------------------------------------------
# users and privileges


_NONROOT_HINTS = ("nonroot", "non-root", "rootless", "unprivileged")
_PRIVILEGE_DROP = re.compile(r"\b(gosu|su-exec|setpriv|runuser|chpst|s6-setuidgid|setuidgid)\b")
_PRIVILEGE_DROP_HINTS = ("gosu", "su-exec", "setpriv", "runuser", "chpst", "setuidgid")


def _is_root(user: str) -> bool:
    name = user.strip().split(":", 1)[0].strip()
    return name == "root" or (name.isdigit() and int(name) == 0)


@check(
    "CH-DF-001",
    "Final stage switches to root",
    "high",
    FT,
    description="The last `USER` that applies to the final stage (its own, or inherited from the stage it is "
    "built `FROM`) is root: `USER root`, `USER 0`, `USER root:root` and the like.",
    rationale="""
Whatever user the last `USER` names is the user every container of the image starts as. A process
running as uid 0 holds root's power over everything the container can reach: a kernel or runtime
flaw, a writable host mount or one added capability turns into host compromise far more easily
than from an unprivileged user. An explicit `USER root` at the end is usually a leftover from
installing something, not a decision.
""",
    remediation="Keep `USER root` only around the steps that need it and end the final stage with an "
    "unprivileged account created in the image, e.g. `RUN useradd -r -u 10001 app` and `USER 10001:10001` "
    "(a numeric uid lets Kubernetes' runAsNonRoot verify it).",
    references=(REF + "#user", CIS, NIST, _attack("T1611")),
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.1.2", mitre_attack="T1611"),
)
def final_user_root(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    final = m.final
    ui = final.user_instruction
    if final.windows or final.user is None or ui is None or ui.unresolved:
        return
    if _is_root(final.user):
        where = "" if ui.stage == final.index else f", inherited from {m.stages[ui.stage].label}"
        yield _at_ins(
            ui,
            f"The final stage runs as root: `USER {ui.args[0] if ui.args else final.user}` is the last USER "
            f"(line {ui.line}{where}).",
            fix="After the steps that need root, switch to an unprivileged account created in the image, e.g. "
            "`USER 10001:10001`.",
        )


def _drops_privileges(m: DockerfileModel) -> bool:
    """The entrypoint-drops-privileges pattern (gosu, su-exec, setpriv...) of many official images."""

    def compute() -> bool:
        for st in m.shipped():
            for i in st.instructions:
                text = _texts(i).lower()
                # every name the pattern knows holds one of these: the regex only where one is
                if any(k in text for k in _PRIVILEGE_DROP_HINTS) and _PRIVILEGE_DROP.search(text):
                    return True
        return False

    return m.memo("df.drops_privileges", compute)


@check(
    "CH-DF-002",
    "No USER in the final stage",
    "medium",
    FT,
    description="Neither the final stage nor a stage it is built `FROM` sets `USER`, so containers run as the "
    "base image's default user, which is root for almost every base image. Not reported when the base image "
    "says it runs unprivileged (`nonroot`, `rootless`, `unprivileged` in its name or tag), when its name is "
    "only known at build time, or when the image drops privileges itself at start (gosu, su-exec, setpriv).",
    rationale="""
Without `USER` the image inherits its base image's user; for the common base images that is root, and
every container then runs as uid 0 unless each deployment remembers to override it. Root in a
container is one kernel bug, writable host mount or added capability away from root on the host.
""",
    remediation="Create an unprivileged account and make it the last USER: `RUN useradd -r -u 10001 app` then "
    "`USER 10001:10001` before `CMD`/`ENTRYPOINT`.",
    references=(REF + "#user", CIS, NIST),
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.1.2", mitre_attack="T1611"),
)
def no_user(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    final = m.final
    if final.windows or final.user is not None:
        return
    root = m.base_chain(final)[-1]
    if root.base_unresolved or (not root.scratch and root.image is None):
        return
    if root.image is not None and any(h in f"{root.image.repository}:{root.image.tag}".lower() for h in _NONROOT_HINTS):
        return
    if _drops_privileges(m):
        return
    base = "scratch" if root.scratch else f"{root.image.familiar}:{root.image.tag or 'latest'}" if root.image else ""
    yield _at_ins(
        final.from_instruction,
        f"No USER is set for the final stage, so containers run as the default user of {base} (root unless the "
        "base image says otherwise).",
        fix="Add `USER 10001:10001` (an account created in the image) before CMD/ENTRYPOINT.",
    )


@check(
    "CH-DF-003",
    "sudo used in RUN",
    "medium",
    FT,
    description="A RUN command runs through `sudo` (or `doas`).",
    rationale="""
Build steps already run as whatever USER is in effect; sudo only works if the image ships sudo with a
rule letting that user become root without a password, which is then also available to anyone who
gets code execution in the running container: an unprivileged USER that can sudo is root. sudo also
behaves unpredictably without a TTY and can swallow signals.
""",
    remediation="Drop sudo: put the privileged steps under `USER root` and switch back to the unprivileged user "
    "afterwards; do not install sudo or sudoers rules in the image.",
    references=(BEST + "#user", CIS, _attack("T1548.003")),
    frameworks=Framework(cis_docker="4.1", nist_800_190="4.1.2", mitre_attack="T1548.003"),
)
def sudo_in_run(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), triggers=True):
        for rs, _i, cmd in _commands(r):
            if cmd.name in ("sudo", "doas"):
                as_user = f" while USER is {r.ins.user!r}" if r.ins.user and not _is_root(r.ins.user) else ""
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    f"`{_describe_cmd(cmd)}` uses {cmd.name}{as_user}.",
                    fix=f"Remove `{cmd.name}`; run the step under `USER root` and switch back to the unprivileged "
                    "user afterwards.",
                )


# -- file modes

_SYMBOLIC = re.compile(r"^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$")


def _numeric_mode(mode: str) -> int | None:
    return int(mode, 8) if re.fullmatch(r"[0-7]{1,5}", mode) else None


def _symbolic(mode: str) -> list[tuple[str, str, str]] | None:
    """`u+s,o-w` -> [(who, op, perms)]; None when it is not a symbolic mode."""
    out: list[tuple[str, str, str]] = []
    for clause in mode.split(","):
        m = _SYMBOLIC.match(clause)
        if not m:
            return None
        who = m.group(1)
        for op in re.finditer(r"([-+=])([rwxXstugo]*)", m.group(2)):
            out.append((who, op.group(1), op.group(2)))
    return out


def world_writable_mode(mode: str) -> bool:
    """Whether applying `mode` makes files writable by everyone (sticky directories excepted)."""
    n = _numeric_mode(mode)
    if n is not None:
        return bool(n & 0o002) and not n & 0o1000
    clauses = _symbolic(mode)
    if not clauses:
        return False
    sticky = any(op in "+=" and "t" in perms for _w, op, perms in clauses)
    writes = any(("o" in who or "a" in who) and op in "+=" and "w" in perms for who, op, perms in clauses)
    return writes and not sticky


def setuid_mode(mode: str) -> bool:
    """Whether `mode` sets the setuid bit (setgid alone is not reported: setgid directories are a
    common and harmless way to share group ownership)."""
    n = _numeric_mode(mode)
    if n is not None:
        return bool(n & 0o4000)
    clauses = _symbolic(mode)
    return bool(clauses) and any(
        op in "+=" and "s" in perms and (not who or "u" in who or "a" in who) for who, op, perms in clauses or ()
    )


_MODE_VALUE_OPTS = {"install": ("-m", "--mode"), "mkdir": ("-m", "--mode")}


def _mode_words(cmd: shell.SimpleCommand) -> Iterator[shell.Word]:
    """The mode words of `chmod MODE`, `install -m MODE`, `mkdir -m MODE`."""
    i = shell.unwrap(cmd)
    if i >= len(cmd.words):
        return
    name = cmd.words[i].text.rsplit("/", 1)[-1]
    words = cmd.words[i + 1 :]
    if name == "chmod":
        for w in words:
            t = w.text
            if t.startswith("--"):
                if t.startswith("--reference"):
                    return
                continue
            if t.startswith("-") and re.fullmatch(r"-[RcfvH]+", t):
                continue
            yield w
            return
    elif name in _MODE_VALUE_OPTS:
        short, long = _MODE_VALUE_OPTS[name]
        for k, w in enumerate(words):
            t = w.text
            if t in (short, long) and k + 1 < len(words):
                yield words[k + 1]
            elif t.startswith(long + "="):
                yield shell.Word(t[len(long) + 1 :], w.start, w.end)
            elif t.startswith(short) and len(t) > 2 and t[2:3] != "-":
                yield shell.Word(t[2:], w.start, w.end)


def _copy_chmod(m: DockerfileModel, shipped_only: bool) -> Iterator[tuple[Instruction, str]]:
    ids = _shipped_ids(m)
    for st in m.stages:
        if shipped_only and st.index not in ids:
            continue
        for ins in st.instructions:
            if ins.cmd in ("COPY", "ADD"):
                mode = ins.flag("chmod")
                if mode and "$" not in mode:
                    yield ins, mode


@check(
    "CH-DF-004",
    "setuid bit set in the image",
    "medium",
    FT,
    description="A `chmod` (or `install -m`, `mkdir -m`, `COPY --chmod`) in a stage of the final image sets the "
    "setuid bit (`u+s`, `+s`, `4755`). Setgid alone is not reported.",
    rationale="""
A setuid executable runs with its owner's privileges, normally root, whoever starts it. Every such
binary in an image is a way for an unprivileged process in the container to become root through a
bug or a misused feature of that program, which defeats running as a non-root USER.
""",
    remediation="Do not add setuid bits; give the program only the capability it needs (`setcap`) or run the "
    "step that needs privileges at build time. Remove inherited ones with `chmod u-s,g-s`.",
    references=(CIS, NIST, _attack("T1548.001")),
    frameworks=Framework(cis_docker="4.8", nist_800_190="4.1.2", mitre_attack="T1548.001"),
)
def setuid_bits(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, shipped_only=True):
        for rs, _i, cmd in _commands(r):
            for w in _mode_words(cmd):
                if "$" not in w.text and setuid_mode(w.text):
                    yield _at_word(
                        r.ins,
                        rs,
                        cmd,
                        f"`{_describe_cmd(cmd)}` sets the setuid bit (mode {w.text}).",
                        word=w,
                        fix="Remove the setuid bit from the mode (e.g. `0755` instead of `4755`); use `setcap` for "
                        "the single capability the program needs.",
                    )
    for ins, mode in _copy_chmod(m, shipped_only=True):
        if setuid_mode(mode):
            yield _at_ins(
                ins, f"`{ins.cmd} --chmod={mode}` sets the setuid bit.", fix="Drop the setuid bit from --chmod."
            )


@check(
    "CH-DF-005",
    "World-writable permissions",
    "medium",
    FT,
    description="A `chmod` (or `install -m`, `mkdir -m`, `COPY --chmod`) in a stage of the final image makes "
    "files writable by every user: `777`, `666`, `o+w`, `a+w`, with or without `-R`. Sticky directories "
    "(`1777`, `+t`), the safe way to share a directory like /tmp, are not reported.",
    rationale="""
A world-writable file or directory can be changed by any process in the container, whatever user it
runs as: an unprivileged compromised process can replace scripts, libraries or configuration that a
more privileged process later executes or trusts. Broad `chmod -R 777` is usually a shortcut around a
permission problem that the right owner would solve.
""",
    remediation="Give the files to the user that needs to write them (`COPY --chown=app:app`, `chown`) and "
    "keep modes like 755/644 (775/664 for a shared group).",
    references=(CIS, NIST),
    frameworks=Framework(cis_docker="4.8", nist_800_190="4.1.2"),
)
def world_writable(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, shipped_only=True):
        for rs, _i, cmd in _commands(r):
            for w in _mode_words(cmd):
                if "$" in w.text or not world_writable_mode(w.text):
                    continue
                n = _numeric_mode(w.text)
                edit = None
                if n is not None:
                    fixed = format(n & ~0o002, "o").zfill(len(w.text))
                    edit = _replace_word(doc, r.ins, rs, w, fixed)
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    f"`{_describe_cmd(cmd)}` makes files writable by every user (mode {w.text}).",
                    word=w,
                    fix="Remove the write bit for others (e.g. 775 instead of 777) and give ownership to the user "
                    "that needs to write (`chown`, `COPY --chown`).",
                    edit=edit,
                )
    for ins, mode in _copy_chmod(m, shipped_only=True):
        if world_writable_mode(mode):
            yield _at_ins(
                ins,
                f"`{ins.cmd} --chmod={mode}` makes the copied files writable by every user.",
                fix="Use a mode without the write bit for others, with `--chown` for the user that writes.",
            )


@check(
    "CH-DF-006",
    "RUN with --security=insecure",
    "high",
    FT,
    description="A RUN uses `--security=insecure`, which runs the step as a privileged container.",
    rationale="""
`--security=insecure` gives the build step all capabilities, all devices and no seccomp or AppArmor
confinement: whatever that step runs (a downloaded installer, a package's post-install script) can
take over the build host or the BuildKit worker and every secret and cache it holds.
""",
    remediation="Remove `--security=insecure` and do what needed privileges differently (a cache or tmpfs "
    "mount, a build step outside the image, a tool that does not need root privileges on the host).",
    references=(REF + "#run---security", _attack("T1611"), NIST),
    frameworks=Framework(cis_docker="5.5", nist_800_190="4.4.3", mitre_attack="T1611"),
)
def insecure_run(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), triggers=True):
        if r.ins.flag("security") == "insecure":
            yield _at_ins(
                r.ins,
                "This RUN executes as a privileged container (`--security=insecure`).",
                fix="Remove `--security=insecure`.",
            )


@check(
    "CH-DF-007",
    "RUN with --network=host",
    "low",
    FT,
    description="A RUN uses `--network=host`, sharing the build host's network namespace with the step.",
    rationale="""
With the host's network the build step can reach everything the build host can, including services
listening only on localhost (a Docker API, cloud metadata helpers, databases) and the host's
interfaces; a malicious dependency downloaded during the step gets that reach too.
""",
    remediation="Remove `--network=host`; reach what the step needs through the default network, or pass "
    "a proxy explicitly.",
    references=(REF + "#run---network", CIS),
    frameworks=Framework(cis_docker="5.10", nist_800_190="4.4.2"),
)
def host_network_run(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), triggers=True):
        if r.ins.flag("network") == "host":
            yield _at_ins(
                r.ins, "This RUN shares the build host's network (`--network=host`).", fix="Remove `--network=host`."
            )


# --------------------------------------------------------------------------------------------
# base images


@dataclass(frozen=True)
class _ImageUse:
    ins: Instruction
    ref: ImageRef
    how: str  # "FROM", "COPY --from", "RUN --mount from"


def _stage_ref(m: DockerfileModel, value: str, before: int) -> bool:
    """Whether a `--from`/`from=` value names a stage defined before stage `before`."""
    if value.isdigit():
        return int(value) < before
    low = value.lower()
    return any(s.name == low for s in m.stages[:before])


def _image_uses(m: DockerfileModel) -> list[_ImageUse]:
    def compute() -> list[_ImageUse]:
        out: list[_ImageUse] = []
        for st in m.stages:
            if st.base_stage is None and not st.scratch and st.image is not None and not st.base_unresolved:
                out.append(_ImageUse(st.from_instruction, st.image, "FROM"))
            for ins in st.instructions:
                cf = ins.copy_from
                external = cf is not None and cf.image is not None and not cf.unresolved and cf.stage is None
                if cf is not None and cf.image is not None and external and not _from_problem(m, st, cf.value):
                    out.append(_ImageUse(ins, cf.image, f"{ins.cmd} --from"))  # typos of stage names: CH-DF-044
                for mount in ins.mounts:
                    raw = mount.get("from")
                    if not raw:
                        continue
                    exp = expand(raw, ins.vars, m.escape)
                    if exp.unresolved or not exp.value or _stage_ref(m, exp.value, st.index):
                        continue
                    if _from_problem(m, st, exp.value):
                        continue
                    ref = parse_image_ref(exp.value)
                    if ref is not None:
                        out.append(_ImageUse(ins, ref, "RUN --mount from"))
        return out

    return m.memo("df.image_uses", compute)


def _unversioned(ref: ImageRef) -> bool:
    return not ref.digest and ref.tag in ("", "latest")


def _shown(ref: ImageRef) -> str:
    return ref.original


@check(
    "CH-DF-008",
    "Image without a version (latest or no tag)",
    "medium",
    FT,
    description="`FROM`, `COPY --from` or a `RUN --mount from=` names an image by the `latest` tag or by no tag "
    "at all (which means `latest`), without a digest.",
    rationale="""
`latest` is whatever was pushed last: the same Dockerfile builds a different image tomorrow, possibly a
new major version or a compromised push, and nobody can tell from the Dockerfile which base a given
image was built on. Scanning and reviewing the base image means little when the next build silently
takes another one.
""",
    remediation="Name a specific version (`python:3.12.4-slim-bookworm`) and, better, pin its digest "
    "(`python:3.12.4-slim-bookworm@sha256:...`), updated deliberately by a tool such as Renovate or Dependabot.",
    references=(REF + "#from", BEST + "#from", NIST),
    frameworks=Framework(cis_docker="4.2", nist_800_190="4.2.2"),
)
def unversioned_image(doc: Document, options: Options) -> Iterator[Violation]:
    for use in _image_uses(_model(doc)):
        if _unversioned(use.ref):
            what = "the `latest` tag" if use.ref.tag == "latest" else "no tag (so `latest`)"
            yield _at_ins(
                use.ins,
                f"{use.how} {_shown(use.ref)!r} uses {what}: the image changes whenever a new one is pushed.",
                fix=f"Use a specific version of {use.ref.familiar}, pinned by digest: "
                f"`{use.ref.familiar}:<version>@sha256:<digest>`.",
            )


@check(
    "CH-DF-009",
    "Image not pinned by digest",
    "low",
    FT,
    description="`FROM`, `COPY --from` or a `RUN --mount from=` names an image by tag only. (Images without any "
    "version are reported by CH-DF-008 instead.)",
    rationale="""
Tags are mutable: the publisher (or anyone who compromises the publisher's account or registry) can
point `3.12-slim` at different content at any time, so two builds of the same Dockerfile can start
from different bytes. A digest names exactly one image, makes builds reproducible and lets the base
image be reviewed and updated on purpose.
""",
    remediation="Add the digest the tag currently points to: `FROM image:tag@sha256:<digest>` "
    "(`docker buildx imagetools inspect image:tag` prints it), and let a bot propose updates.",
    references=(REF + "#from", BEST + "#pin-base-image-versions", NIST),
    frameworks=Framework(cis_docker="4.2", nist_800_190="4.2.2"),
)
def undigested_image(doc: Document, options: Options) -> Iterator[Violation]:
    for use in _image_uses(_model(doc)):
        if not use.ref.digest and not _unversioned(use.ref):
            yield _at_ins(
                use.ins,
                f"{use.how} {_shown(use.ref)!r} is pinned by tag only; the tag can be moved to other content.",
                fix=f"Pin the digest: `{use.ref.familiar}:{use.ref.tag}@sha256:<digest>`.",
            )


def _allow_entry(entry: str) -> str:
    e = entry.strip().lower().rstrip("/")
    e = e.split("://", 1)[-1]
    head, sep, rest = e.partition("/")
    if head in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        head = "docker.io"
    return head + (sep + rest if sep else "")


@check(
    "CH-DF-010",
    "Image from a registry outside the allowlist",
    "medium",
    FT,
    description="An image used by `FROM`, `COPY --from` or `RUN --mount from=` comes from a registry (or "
    "repository prefix) not listed in the configured allowlist. Silent unless an allowlist is configured "
    "(`--registry-allowlist`; entries like `registry.example.com`, `ghcr.io/acme`, `docker.io/library`).",
    rationale="""
Base images are code that runs in every container built on them. An organisation that mirrors,
scans and signs approved images in its own registry loses that control when a Dockerfile pulls
straight from a public registry or an unknown namespace, where images can be typo-squatted,
abandoned or replaced.
""",
    remediation="Use the approved copy of the image from an allowed registry, or get the source approved and "
    "added to the allowlist.",
    references=(CIS, NIST),
    frameworks=Framework(cis_docker="4.2", nist_800_190="4.1.5"),
)
def registry_allowlist(doc: Document, options: Options) -> Iterator[Violation]:
    allowed = [e for e in (_allow_entry(x) for x in options.registry_allowlist) if e]
    if not allowed:
        return
    for use in _image_uses(_model(doc)):
        name = use.ref.name
        if any(name == e or name.startswith(e + "/") or use.ref.registry == e for e in allowed):
            continue
        yield _at_ins(
            use.ins,
            f"{use.how} {_shown(use.ref)!r} comes from {use.ref.registry}, which is not in the registry allowlist.",
            fix="Use the image from an allowed registry: " + ", ".join(sorted(set(allowed))) + ".",
        )


@check(
    "CH-DF-011",
    "FROM --platform set to a constant",
    "low",
    FT,
    description="`FROM --platform=linux/amd64 ...` hard-codes a platform instead of using a build argument such "
    "as `$BUILDPLATFORM` or `$TARGETPLATFORM`. Stages named after the platform they build (`AS build-arm64`) "
    "are not reported.",
    rationale="""
A constant platform makes every build use that architecture's image whatever the build was asked
for: multi-platform builds silently ship binaries for the wrong architecture (run under emulation,
or not at all), and security updates published for the other architectures' tags are not the ones
scanned.
""",
    remediation="Use `FROM --platform=$BUILDPLATFORM` for stages that cross-compile and no `--platform` (or "
    "`$TARGETPLATFORM`) for stages that make up the image; choose the platform with `docker build --platform`.",
    references=(BUILD_CHECKS + "from-platform-flag-const-disallowed/", REF + "#from"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def constant_platform(doc: Document, options: Options) -> Iterator[Violation]:
    for st in _model(doc).stages:
        p = st.platform
        if not p or "$" in p:
            continue
        parts = [x for x in re.split(r"[/,]", p.lower()) if x]
        if st.name and any(x in st.name for x in parts[1:] or parts):
            continue
        yield _at_ins(
            st.from_instruction,
            f"{st.label} is always built for {p}, whatever platform the build targets.",
            fix="Use `--platform=$BUILDPLATFORM` (build tools) or drop the flag and pass `--platform` to the build.",
        )


# --------------------------------------------------------------------------------------------
# what the build downloads and trusts


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_COMMIT = re.compile(r"#[0-9a-fA-F]{40}(?::|$)")
_ARCHIVE_SUFFIXES = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tbz2",
    ".tb2",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tzst",
    ".tar.lz",
    ".tar.lzma",
    ".tlz",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".lzma",
)


def _is_git(src: str) -> bool:
    if src.startswith("git@") or re.match(r"^(git|ssh)://", src):
        return True
    return bool(_URL.match(src)) and (src.split("#", 1)[0].rstrip("/").endswith(".git") or ".git#" in src)


def _maybe_archive(src: str) -> bool:
    """Whether ADD might unpack this local source (ADD detects archives by content; we go by name)."""
    base = src.rstrip("/").rsplit("/", 1)[-1].lower()
    if base.endswith(_ARCHIVE_SUFFIXES):
        return True
    if any(c in base for c in "*?["):
        ext = re.search(r"\.([a-z0-9]+)$", base)
        return ext is None or ("." + ext.group(1)) in _ARCHIVE_SUFFIXES
    return False


def _sources(m: DockerfileModel, ins: Instruction) -> list[str] | None:
    """COPY/ADD sources after substitution; None when one depends on an unknown variable."""
    args = ins.args[:-1]
    out = []
    for a in args:
        if ins.heredocs and a.startswith("<<"):
            out.append(a)
            continue
        exp = expand(a, ins.vars, m.escape, quotes=not ins.json)
        if exp.unresolved:
            return None
        out.append(exp.value)
    return out


def _adds(m: DockerfileModel, triggers: bool) -> Iterator[Instruction]:
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd == "ADD":
                yield ins
            elif triggers and ins.cmd == "ONBUILD" and ins.trigger is not None and ins.trigger.cmd == "ADD":
                yield ins.trigger


@check(
    "CH-DF-012",
    "ADD downloads from a URL without a checksum",
    "medium",
    FT,
    description="`ADD https://...` (or a git repository) fetches content at build time without `--checksum`, or "
    "a git source not pinned to a commit.",
    rationale="""
What ADD downloads is whatever the server returns at build time: a compromised or hijacked download
site, a moved tag or a man in the middle puts arbitrary content into the image, and nothing in the
build notices. The same URL also gives different images on different days.
""",
    remediation="Verify what is downloaded: `ADD --checksum=sha256:<digest> https://...`, or download in a RUN "
    "and check a published checksum or signature (`sha256sum -c`, `gpg --verify`); pin git sources to a "
    "commit (`ADD https://host/repo.git#<40-hex commit> /src`).",
    references=(REF + "#add---checksum", CIS, NIST),
    frameworks=Framework(cis_docker="4.9", nist_800_190="4.1.3"),
)
def add_url(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for ins in _adds(m, triggers=True):
        srcs = _sources(m, ins)
        if srcs is None or ins.flag("checksum") is not None:
            continue
        for src in srcs:
            if _is_git(src):
                if not _COMMIT.search(src):
                    yield _at_ins(
                        ins,
                        f"ADD clones {src!r} at a branch or tag, which can change between builds.",
                        fix="Pin the source to a commit: `ADD <repo>.git#<40-hex commit> <dest>`.",
                    )
            elif _URL.match(src):
                yield _at_ins(
                    ins,
                    f"ADD downloads {src!r} without verifying it.",
                    fix="Add `--checksum=sha256:<digest of the file>` to the ADD, or download and verify it in a RUN.",
                )


_ADD_ONLY_FLAGS = ("checksum", "keep-git-dir", "unpack")


@check(
    "CH-DF-013",
    "ADD used where COPY suffices",
    "low",
    FT,
    description="`ADD` copies local files that are neither URLs, git sources nor (by their names) archives for "
    "ADD to unpack, which is exactly what `COPY` does.",
    rationale="""
ADD has implicit behaviour COPY does not: it unpacks anything that looks like a local tar archive and
fetches URLs. Using it for plain files makes a reviewer check which of those it does, and a later
change of a file (a tarball dropped into the copied directory) silently changes what ends up in the
image.
""",
    remediation="Use `COPY` for local files and directories; keep `ADD` for the cases that need it (unpacking a "
    "local archive, a verified download).",
    references=(REF + "#add", BEST + "#add-or-copy", CIS),
    frameworks=Framework(cis_docker="4.9", nist_800_190="4.1.2"),
)
def add_instead_of_copy(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for ins in _adds(m, triggers=False):
        if any(ins.flag(f) is not None for f in _ADD_ONLY_FLAGS):
            continue
        srcs = _sources(m, ins)
        if not srcs:
            continue
        if any(_URL.match(s) or _is_git(s) or (not s.startswith("<<") and _maybe_archive(s)) for s in srcs):
            continue
        replacement = ""
        first = doc.source(ins.line)
        start = ins.column - 1
        if first[start : start + 3].upper() == "ADD":
            kw = "copy" if first[start : start + 3].islower() else "COPY"
            rest = doc.source(ins.line + 1, ins.end_line) if ins.end_line > ins.line else ""
            replacement = first[:start] + kw + first[start + 3 :] + ("\n" + rest if rest else "")
        yield _at_ins(
            ins,
            "ADD copies local files here; COPY does the same without ADD's implicit unpacking and downloading.",
            fix="Replace `ADD` with `COPY`.",
            replacement=replacement,
        )


# -- downloads executed without verification

_CURL_VALUE_OPTS = frozenset("AbcCdDeEFHKmoPQrTtuUwxXyYz")


def _operands(cmd: shell.SimpleCommand, start: int) -> list[int]:
    """Indexes of words after `start` that are not options (`-x`, `--x`)."""
    return [k for k in range(start + 1, len(cmd.words)) if not cmd.words[k].text.startswith("-")]


def _code_word(cmd: shell.SimpleCommand) -> int | None:
    """Index of the word a shell or interpreter runs as code: the `-c` string or the script operand;
    len(words) when it reads its program from stdin; None when it is not such a command."""
    i = shell.unwrap(cmd)
    if i >= len(cmd.words):
        return None
    name = cmd.words[i].text.rsplit("/", 1)[-1]
    if name == "busybox" and i + 1 < len(cmd.words):
        i += 1
        name = cmd.words[i].text
    if name in ("eval", "source", "."):
        return i + 1 if i + 1 < len(cmd.words) else None
    if not (name in shell.SHELLS or name in shell.INTERPRETERS or re.fullmatch(r"python\d(\.\d+)?", name)):
        return None
    for k in range(i + 1, len(cmd.words)):
        t = cmd.words[k].text
        if t == "--":
            break
        if t == "-":
            return len(cmd.words)
        is_shell = name in shell.SHELLS
        inline = ("-c",) if is_shell else ("-c", "-e", "-r")
        if t in inline or (is_shell and t.startswith("-") and not t.startswith("--") and "c" in t[1:]):
            return k + 1 if k + 1 < len(cmd.words) else None
        if t == "-s" and name in shell.SHELLS:
            return len(cmd.words)
        if not t.startswith("-"):
            return k
    return len(cmd.words)


def _is_downloader(cmd: shell.SimpleCommand) -> bool:
    return shell.program(cmd) in shell.DOWNLOADERS


def _piped_to_interpreter(script: shell.ShellScript) -> Iterator[tuple[shell.SimpleCommand, shell.SimpleCommand]]:
    """(downloader, interpreter) for `curl ... | sh`, `sh -c "$(curl ...)"`, `bash <(curl ...)`."""
    cmds = script.commands
    for pl in script.pipelines:
        if pl.length < 2:
            continue
        members = [cmds[i] for i in pl.commands]
        for k, c in enumerate(members[:-1]):
            if not _is_downloader(c):
                continue
            for later in members[k + 1 :]:
                if _code_word(later) == len(later.words):
                    yield c, later
                    break
            break
    for c in cmds:
        if c.parent < 0 or c.via not in ("$()", "<()") or not _is_downloader(c):
            continue
        parent = cmds[c.parent]
        idx = _code_word(parent)
        if idx is None or idx >= len(parent.words):
            continue
        w = parent.words[idx]
        if w.start <= c.start < max(w.end, w.start + 1) or (w.start == c.start and w.end == c.end):
            yield c, parent


@check(
    "CH-DF-014",
    "Downloaded script executed without verification",
    "high",
    FT,
    description="A RUN pipes a download into a shell or interpreter (`curl ... | sh`, `wget -O- ... | bash`, "
    '`sh -c "$(curl ...)"`, `bash <(curl ...)`, `eval "$(curl ...)"`), in any stage.',
    rationale="""
The script runs with the build's privileges the moment it arrives, so whoever controls the server,
the DNS answer or the network path controls the image; a truncated download runs half a script.
Nothing records what was executed, and the next build may execute something else.
""",
    remediation="Download to a file, verify it against a checksum or signature published separately "
    '(`echo "<sha256>  install.sh" | sha256sum -c -`), then run it; better, install a packaged, '
    "signed release.",
    references=(BEST + "#run", CIS, NIST),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.3"),
)
def curl_pipe_shell(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), triggers=True):
        for rs in r.ins.scripts:
            for dl, runner in _piped_to_interpreter(rs.script):
                yield _at_word(
                    r.ins,
                    rs,
                    dl,
                    f"`{_describe_cmd(dl)}` is executed by `{shell.program(runner) or runner.name}` unverified.",
                    fix="Download to a file, check its sha256 (or signature) with `sha256sum -c`, then execute it.",
                )


_APT_INSECURE_OPTS = ("--allow-unauthenticated", "--force-yes", "--allow-insecure-repositories")
_APT_INSECURE_CONF = re.compile(
    r"(?i)^(APT::Get::AllowUnauthenticated|Acquire::AllowInsecureRepositories|"
    r"Acquire::AllowDowngradeToInsecureRepositories)\s*=\s*\"?(true|1|yes)\"?$"
)
_GPGCHECK_OFF = re.compile(r"(?i)(^|\.)(repo_|localpkg_)?gpgcheck\s*=\s*(0|false|no)$")
_TRUSTED_SOURCE = re.compile(r"\[[^\]]*\btrusted=yes\b[^\]]*\]")
_REPO_GPGCHECK_OFF = re.compile(r"(?im)^\s*gpgcheck\s*=\s*(0|false|no)\s*$")


def _unverified_packages(rs: RunScript) -> Iterator[tuple[shell.SimpleCommand, str]]:
    script = rs.script
    for op in script.packages:
        cmd = _op_cmd(rs, op)
        found = ""
        if op.manager in ("apt-get", "apt", "aptitude"):
            found = next((o for o in _APT_INSECURE_OPTS if op.has(o)), "")
            if not found:
                found = next((f"-o {v}" for v in op.values("-o", "--option") if _APT_INSECURE_CONF.match(v)), "")
        elif op.manager == "apk" and op.has("--allow-untrusted"):
            found = "--allow-untrusted"
        elif op.manager in ("yum", "dnf", "microdnf", "tdnf"):
            if op.has("--nogpgcheck"):
                found = "--nogpgcheck"
            else:
                found = next((f"--setopt={v}" for v in op.values("--setopt") if _GPGCHECK_OFF.search(v)), "")
        elif op.manager == "zypper" and op.has("--no-gpg-checks", "--no-gpgcheck"):
            found = "--no-gpg-checks"
        if found:
            yield cmd, f"`{op.manager} {op.raw_action}` with {found}"
    for cmd in script.commands:
        if shell.program(cmd) == "rpm":
            bad = [w.text for w in cmd.words if w.text in ("--nosignature", "--nodigest", "--nogpg")]
            if bad:
                yield cmd, f"`rpm` with {bad[0]}"
        for w in cmd.words[1:]:
            if _TRUSTED_SOURCE.search(w.text):
                yield cmd, "an APT source marked `[trusted=yes]`"
                break


@check(
    "CH-DF-015",
    "Package signature verification disabled",
    "high",
    FT,
    description="A package manager is told to install packages without checking their signatures: apt "
    "`--allow-unauthenticated`, `--force-yes`, `AllowUnauthenticated`/`AllowInsecureRepositories`, "
    "`[trusted=yes]` sources; apk `--allow-untrusted`; yum/dnf `--nogpgcheck` or `gpgcheck=0`; zypper "
    "`--no-gpg-checks`; `rpm --nosignature`.",
    rationale="""
Package signatures are what makes a mirror, a proxy or the network path unable to substitute the
packages an image installs. With checking off, anyone able to serve or alter the repository's
content gets code executed as root in the build and shipped in the image.
""",
    remediation="Import the repository's signing key (`/etc/apt/keyrings/<repo>.gpg` with `signed-by=`, "
    "`rpm --import`, `/etc/apk/keys`) and remove the option that disables verification.",
    references=(CIS, NIST, "https://wiki.debian.org/SecureApt"),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.3"),
)
def unverified_packages(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, triggers=True):
        for rs in r.ins.scripts:
            for cmd, what in _unverified_packages(rs):
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    f"{what} installs packages without verifying their signatures.",
                    fix="Import the repository's signing key and remove the option that disables verification.",
                )
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd not in ("COPY", "ADD"):
                continue
            for h in ins.heredocs:
                for rx in (_TRUSTED_SOURCE, _REPO_GPGCHECK_OFF):
                    found = rx.search(h.content)
                    if found:
                        line = h.line + h.content.count("\n", 0, found.start())
                        yield Violation(
                            message=f"The repository definition written by {ins.cmd} disables signature checks "
                            f"(`{found.group(0).strip()}`).",
                            line=line,
                            fix="Import the repository's signing key and enable gpgcheck / drop `trusted=yes`.",
                        )
                        break


_TLS_OFF_ENV = {
    "GIT_SSL_NO_VERIFY": None,  # any non-empty value
    "NODE_TLS_REJECT_UNAUTHORIZED": "0",
    "PYTHONHTTPSVERIFY": "0",
    "NPM_CONFIG_STRICT_SSL": "false",
}
_NPMS = frozenset({"npm", "yarn", "pnpm"})


def _tls_env(name: str, value: str | None) -> bool:
    """Whether `name=value` is an environment setting that switches certificate checks off."""
    key = name.upper()
    if value is None or "$" in value or key not in _TLS_OFF_ENV:
        return False
    want = _TLS_OFF_ENV[key]
    v = value.strip().strip("\"'").lower()
    if want is None:
        return v not in ("", "0", "false", "no")
    return v == want


def _insecure_tls(cmd: shell.SimpleCommand) -> str:
    """What in this command turns certificate verification off, "" if nothing does."""
    for a in cmd.assignments:
        name, _, value = a.partition("=")
        if _tls_env(name, value):
            return a
    i = shell.unwrap(cmd)
    if i >= len(cmd.words):
        return ""
    name = cmd.words[i].text.rsplit("/", 1)[-1]
    args = [w.text for w in cmd.words[i + 1 :]]
    if name == "export":
        for a in args:
            n, eq, v = a.partition("=")
            if eq and _tls_env(n, v):
                return f"export {a}"
    if name == "curl":
        for a in args:
            if a == "--insecure":
                return "curl --insecure"
            if a.startswith("-") and not a.startswith("--"):
                for ch in a[1:]:
                    if ch == "k":
                        return f"curl {a}"
                    if ch in _CURL_VALUE_OPTS:
                        break
    elif name == "wget" and "--no-check-certificate" in args:
        return "wget --no-check-certificate"
    elif name in _NPMS:
        low = [a.lower() for a in args]
        if "--strict-ssl=false" in low:
            return f"{name} --strict-ssl=false"
        for k, a in enumerate(low):
            if a in ("strict-ssl", "strict-ssl=false") and (a.endswith("=false") or low[k + 1 : k + 2] == ["false"]):
                return f"{name} config set strict-ssl false"
    elif name == "git":
        low = [a.lower() for a in args]
        for k, a in enumerate(low):
            if a.startswith("http.sslverify=") and a.split("=", 1)[1] in ("false", "0", "no"):
                return "git -c http.sslVerify=false"
            if a == "http.sslverify" and low[k + 1 : k + 2] and low[k + 1] in ("false", "0", "no"):
                return "git config http.sslVerify false"
    return ""


def _insecure_tls_op(op: shell.PackageOp) -> str:
    if op.manager == "pip" and op.has("--trusted-host"):
        return f"pip --trusted-host {op.value('--trusted-host') or ''}".strip()
    if op.manager in ("yum", "dnf", "microdnf", "tdnf"):
        for v in op.values("--setopt"):
            if re.search(r"(?i)(^|\.)sslverify\s*=\s*(0|false|no)$", v):
                return f"{op.manager} --setopt={v}"
    if op.manager in ("apt-get", "apt", "aptitude"):
        for v in op.values("-o", "--option"):
            if re.match(r"(?i)^Acquire::https::(\S+::)?Verify-(Peer|Host)\s*=\s*\"?(false|0|no)\"?$", v):
                return f"{op.manager} -o {v}"
    return ""


@check(
    "CH-DF-016",
    "TLS certificate verification disabled",
    "high",
    FT,
    description="A build step turns off certificate verification for its downloads: `curl -k`/`--insecure`, "
    "`wget --no-check-certificate`, `pip --trusted-host`, npm/yarn `strict-ssl false`, git "
    "`http.sslVerify=false`, yum/dnf `sslverify=0`, apt `Verify-Peer=false`, or ENV such as "
    "`GIT_SSL_NO_VERIFY`, `NODE_TLS_REJECT_UNAUTHORIZED=0`, `PYTHONHTTPSVERIFY=0`.",
    rationale="""
Without certificate checks HTTPS authenticates nobody: any proxy, hijacked DNS answer or hostile network
on the build path can serve its own packages or scripts, which then run in the build and ship in the
image. Set in ENV, the setting also stays on for everything the container does at run time.
""",
    remediation="Remove the option; if a corporate proxy re-signs TLS, add its CA certificate to the image's "
    "trust store (`/usr/local/share/ca-certificates` + `update-ca-certificates`) or point the tool at it "
    "(`--cacert`, `PIP_CERT`, `NODE_EXTRA_CA_CERTS`).",
    references=(NIST, CIS, _attack("T1557")),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.3", mitre_attack="T1557"),
)
def tls_verification_off(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, triggers=True):
        for rs in r.ins.scripts:
            flagged: set[int] = set()
            for op in rs.script.packages:
                what = _insecure_tls_op(op)
                if what:
                    flagged.add(op.command)
                    yield _at_word(
                        r.ins,
                        rs,
                        _op_cmd(rs, op),
                        f"`{what}` downloads without verifying the server's certificate.",
                        fix="Remove the option; trust a proxy's CA certificate explicitly if one re-signs TLS.",
                    )
            for n, cmd in enumerate(rs.script.commands):
                if n in flagged:
                    continue
                what = _insecure_tls(cmd)
                if what:
                    yield _at_word(
                        r.ins,
                        rs,
                        cmd,
                        f"`{what}` turns off certificate verification.",
                        fix="Remove the option; trust a proxy's CA certificate explicitly if one re-signs TLS.",
                    )
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd != "ENV":
                continue
            for p in ins.pairs:
                if p.raw is not None and "$" not in p.raw and _tls_env(p.key, p.value):
                    yield _at_ins(
                        ins,
                        f"ENV {p.key}={p.value} turns off certificate verification for the build and the container.",
                        fix=f"Remove {p.key}; trust the needed CA certificate instead.",
                    )


# --------------------------------------------------------------------------------------------
# secrets

_PGP_FINGERPRINT = re.compile(r"(?:0x)?(?:[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40})|(?:[0-9A-Fa-f]{4} ?){10}")
_PUBLIC_KEY = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+)\s+AAAA")


def _public_key_material(value: str) -> bool:
    """Key fingerprints and public keys: `ENV NODE_SIGNING_KEY=<fingerprint>` publishes nothing secret."""
    v = value.strip().strip("\"'")
    if _PUBLIC_KEY.match(v) or "-----BEGIN PUBLIC KEY-----" in v or "-----BEGIN PGP PUBLIC KEY" in v:
        return True
    words = v.split()
    if len(words) >= 10 and all(re.fullmatch(r"[0-9A-Fa-f]{4}", w) for w in words):
        return True
    return bool(words) and all(_PGP_FINGERPRINT.fullmatch(w) for w in words)


def _unquote(raw: str) -> str:
    r = raw.strip()
    if len(r) >= 2 and r[0] == r[-1] and r[0] in "\"'":
        return r[1:-1]
    return r


def _literal_secret(key: str, raw: str) -> tuple[str, str]:
    """(reason, the secret as written) when `key=raw` holds a literal credential."""
    value = _unquote(raw)
    reason = secret_reason(key, value)
    if not reason:
        return "", ""
    if reason.startswith("its name") and _public_key_material(value):
        return "", ""
    m = re.match(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?-(.+)\}$", value)
    return reason, (m.group(1) if m else value)


@check(
    "CH-DF-017",
    "Secret in ENV, ARG or LABEL",
    "high",
    FT,
    description="An `ENV`, `ARG` default or `LABEL` holds a literal credential: its name says it is a secret "
    "(PASSWORD, TOKEN, SECRET, API_KEY, PRIVATE_KEY, ...) and it has a real value, or its value has the shape "
    "of one (cloud keys, tokens, private keys, `https://user:password@host`, including proxy settings). Values "
    "that only reference another variable, empty values, placeholders and public key material (GPG "
    "fingerprints, public keys) are not reported.",
    rationale="""
ENV values and labels are stored in the image configuration and ARG values in its build history:
anyone who can pull the image reads them with `docker inspect` or `docker history`, for as long as
the image exists, and the Dockerfile itself puts the credential in every clone of the repository.
""",
    remediation="Remove the value and rotate the credential. Pass secrets at build time as BuildKit secrets "
    "(`RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN npm ci`) and at run time through the "
    "orchestrator's secrets, never as ENV/ARG/LABEL.",
    references=(SECRETS, BUILD_CHECKS + "secrets-used-in-arg-or-env/", CIS, _attack("T1552.001")),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def env_secret(doc: Document, options: Options) -> Iterator[Violation]:
    for ins in _model(doc).instructions:
        if ins.cmd not in ("ENV", "ARG", "LABEL"):
            continue
        for p in ins.pairs:
            if p.raw is None:
                continue
            reason, secret = _literal_secret(p.key, p.raw)
            if not reason:
                continue
            snippet = _mask(doc.source(ins.line, ins.end_line), [secret, _unquote(p.raw)])
            yield _at_ins(
                ins,
                f"{ins.cmd} {p.key} holds a credential ({reason}): {redact(secret)}.",
                fix=f"Remove the value of {p.key} from the Dockerfile, rotate it, and pass it as a build secret "
                "(`RUN --mount=type=secret`) or a runtime secret.",
                snippet=snippet,
            )


_VAR_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@check(
    "CH-DF-018",
    "Secret passed as build argument or environment variable",
    "medium",
    FT,
    description="A stage declares a build argument named like a secret (`ARG NPM_TOKEN`, `ARG DB_PASSWORD`) "
    "to receive it with `--build-arg`, or copies a secret-named variable into `ENV` (`ENV TOKEN=$TOKEN`), "
    "where `RUN --mount=type=secret` would serve. (Literal values are reported by CH-DF-017.)",
    rationale="""
Build arguments are recorded in the image: every RUN after the ARG carries the values in the image
history (`docker history --no-trunc`) and in build provenance, and an ENV copy of the value is in the
image configuration of every container. A BuildKit secret mount makes the value available to the
one step that needs it and leaves no trace in any layer or metadata.
""",
    remediation="Replace the ARG with a secret: `RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN npm ci` and "
    "`docker build --secret id=npm_token,env=NPM_TOKEN .`; drop the ENV copy.",
    references=(SECRETS, BUILD_CHECKS + "secrets-used-in-arg-or-env/", CIS, _attack("T1552.001")),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def secret_build_arg(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd == "ARG":
                for p in ins.pairs:
                    if not secret_name(p.key):
                        continue
                    if p.raw is not None and (_literal_secret(p.key, p.raw)[0] or "$" not in p.raw):
                        continue  # a literal value: CH-DF-017, or not a secret at all
                    yield _at_ins(
                        ins,
                        f"ARG {p.key} receives a secret as a build argument, which is recorded in the image's history.",
                        fix=f"Use a build secret instead: `RUN --mount=type=secret,id={p.key.lower()},env={p.key} ...` "
                        f"and remove `ARG {p.key}`.",
                    )
            elif ins.cmd == "ENV":
                for p in ins.pairs:
                    if p.raw is None or "$" not in p.raw or _literal_secret(p.key, p.raw)[0]:
                        continue
                    refs = [n for n in _VAR_REF.findall(p.raw) if n in st.args or n in m.global_vars]
                    secret_refs = [n for n in refs if secret_name(n)]
                    if secret_refs or (secret_name(p.key) and refs):
                        src = (secret_refs or refs)[0]
                        yield _at_ins(
                            ins,
                            f"ENV {p.key} copies the build argument {src} into the image configuration, where every "
                            "container and `docker inspect` sees it.",
                            fix=f"Remove ENV {p.key}; read the secret from a secret mount in the RUN that needs it.",
                        )


_SECRET_KINDS = (
    (re.compile(r"(^|/)id_(rsa|dsa|ecdsa|ed25519)(_sk)?$|\.ppk$"), "an SSH private key"),
    (re.compile(r"\.(pem|key)$"), "a private key"),
    (re.compile(r"\.(p12|pfx|jks|keystore|kdbx)$"), "a keystore"),
    (re.compile(r"(^|/)\.env(\.[^/]*)?$"), "an environment file"),
)


def _secret_kind(path: str) -> str:
    for rx, kind in _SECRET_KINDS:
        if rx.search(path):
            return kind
    return "a credentials file"


def _normalise_src(path: str) -> str:
    p = path.strip()
    while p.startswith("./"):
        p = p[2:]
    return p.lstrip("/")


_PUBLIC_KEY_FILE = re.compile(r"(?i)(gpg|pgp|pubkey|public|\.pub\b|release|keyring|archive-key|repo)")


def _secret_path(path: str) -> bool:
    p = _normalise_src(path)
    if not p or p.startswith("<<"):
        return False
    base = p.rstrip("/").rsplit("/", 1)[-1]
    if base.lower().endswith((".key", ".pem")) and _PUBLIC_KEY_FILE.search(base):
        return False  # `nodesource.gpg.key`, `Release.key`: a repository's public signing key
    if any(c in base for c in "*?[") and base.lower().endswith(".pem"):
        return False  # `*.pem` globs are mostly certificate bundles
    return secret_file_name(p.rstrip("/"))


_SAMPLE_SUFFIXES = (".example", ".sample", ".template", ".dist", ".defaults", ".tmpl", ".tpl")


@check(
    "CH-DF-019",
    "Credential file copied into the image",
    "high",
    FT,
    description="`COPY` or `ADD` takes a file whose name marks it as a credential (`.env`, `id_rsa`, "
    "`id_ed25519`, `*.key`, private `*.pem`, `.npmrc`, `.pypirc`, `.netrc`, `.git-credentials`, "
    "`.docker/config.json`, `.aws/credentials`, `.kube/config`, keystores...), or writes one to such a path, "
    "in any stage. Sample files (`.env.example`) and certificates are not reported.",
    rationale="""
A copied file is stored in the layer that copied it, forever: deleting it in a later step hides it from
the final filesystem but not from anyone who pulls the image and unpacks its layers. In a build stage
it still ends up in build caches and exported cache layers. Private keys and tokens are then readable
by everyone with pull access.
""",
    remediation="Mount the credential for the step that needs it instead of copying it: "
    "`RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci`, `RUN --mount=type=ssh git clone ...`; "
    "add the file to .dockerignore and rotate it if an image with it was pushed.",
    references=(SECRETS, CIS, NIST, _attack("T1552.001")),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def secret_files(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd not in ("COPY", "ADD") or len(ins.args) < 2:
                continue
            srcs = _sources(m, ins)
            if srcs is None:
                continue
            hit = next((s for s in srcs if not _URL.match(s) and _secret_path(s)), "")
            if not hit:
                dest = expand(ins.args[-1], ins.vars, m.escape, quotes=not ins.json)
                samples = all(_normalise_src(s).lower().endswith(_SAMPLE_SUFFIXES) for s in srcs)
                if not dest.unresolved and not dest.value.endswith("/") and not samples and _secret_path(dest.value):
                    hit = dest.value
            if hit:
                yield _at_ins(
                    ins,
                    f"{ins.cmd} puts {hit!r} ({_secret_kind(_normalise_src(hit))}) into a layer of the image.",
                    fix="Mount it only for the step that needs it (`RUN --mount=type=secret,id=...,target=...`) and "
                    "list it in .dockerignore.",
                )


_USER_OPT = re.compile(r"^(?:-u|--user)(?:=)?(.*)$")


def _command_text(cmd: shell.SimpleCommand) -> str:
    return " ".join([*cmd.assignments, *cmd.argv])


def _run_secret_hits(cmd: shell.SimpleCommand, text: str, free_text: bool) -> list[SecretHit]:
    """Secrets in one command: in its text (`text_hits`, skipped when `free_text` is False because
    its RUN as a whole holds none), and in the credentials curl and wget take as options."""
    hits = text_hits(text) if free_text else []
    if shell.program(cmd) in ("curl", "wget"):
        args = cmd.argv
        for k, a in enumerate(args):
            value = ""
            if a in ("-u", "--user", "--http-password", "--password", "--proxy-password"):
                value = args[k + 1] if k + 1 < len(args) else ""
            elif a.startswith(("--user=", "--http-password=", "--password=", "--proxy-password=")):
                value = a.split("=", 1)[1]
            if not value or "$" in value:
                continue
            secret = value.split(":", 1)[1] if a.startswith(("-u", "--user")) and ":" in value else value
            if a.startswith(("-u", "--user")) and ":" not in value:
                continue
            if len(secret) >= 4 and not any(h.value == secret for h in hits):
                hits.append(SecretHit("name", a.split("=", 1)[0], secret))
    return hits


@check(
    "CH-DF-020",
    "Secret in a RUN command or heredoc",
    "high",
    FT,
    description="A RUN command line, or a heredoc written by RUN/COPY/ADD, contains a literal credential: a "
    "token or key with a recognisable shape, a URL with a password (`git clone https://user:token@...`), an "
    "`Authorization` header, `curl -u user:password`, `--password=...`, or a secret-named assignment "
    "(`NPM_TOKEN=... npm publish`, `_authToken=...`).",
    rationale="""
RUN command lines are stored verbatim in the image history that every `docker history` prints, and
the Dockerfile puts them in every clone of the repository; a credential in a heredoc is in the layer
it wrote, or in the history if it was only a RUN script.
""",
    remediation="Rotate the credential and read it from a build secret at the step that needs it: "
    "`RUN --mount=type=secret,id=gh_token,env=GH_TOKEN git clone https://x-access-token:$GH_TOKEN@github.com/...`.",
    references=(SECRETS, CIS, NIST, _attack("T1552.001")),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def run_secret(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, triggers=True):
        seen: set[str] = set()
        commands = list(_commands(r))
        texts = [_command_text(cmd) for _rs, _i, cmd in commands]
        free_text = could_hold_secrets("\n".join(texts))  # one test for the whole RUN
        for (rs, _i, cmd), text in zip(commands, texts, strict=True):
            hits = [h for h in _run_secret_hits(cmd, text, free_text) if h.value not in seen]
            if not hits:
                continue
            seen.update(h.value for h in hits)
            v = _at_word(r.ins, rs, cmd, "")
            yield Violation(
                message=f"`{cmd.name}` is given a credential on its command line: {_describe_hits(hits)}.",
                line=v.line,
                column=v.column,
                end_line=v.end_line,
                snippet=_mask(doc.source(v.line, v.end_line), [h.value for h in hits]),
                fix="Rotate it and read it from a build secret (`RUN --mount=type=secret,id=...,env=...`).",
            )
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd not in ("RUN", "COPY", "ADD"):
                continue
            for h in ins.heredocs:
                hits = text_hits(h.content)
                if not hits:
                    continue
                at = min((h.content.find(x.value) for x in hits if x.value in h.content), default=0)
                line = h.line + h.content.count("\n", 0, max(at, 0))
                yield Violation(
                    message=f"The heredoc {h.name} of this {ins.cmd} contains a credential: {_describe_hits(hits)}.",
                    line=line,
                    snippet=_mask(doc.source(line), [x.value for x in hits]),
                    fix="Rotate it; mount the file as a build secret (`RUN --mount=type=secret,id=...,target=...`) "
                    "or write it at run time from the orchestrator's secrets.",
                )


def _describe_hits(hits: Sequence[SecretHit]) -> str:
    parts = []
    for h in hits:
        what = "secret-looking name" if h.kind == "name" else h.kind
        parts.append(f"{h.name + ' ' if h.name else ''}({what}) {redact(h.value)}")
    return "; ".join(parts)


_WHOLE_CONTEXT = frozenset({".", "./", "*", "./*", "/", ".*"})


def _has_dockerignore(doc: Document, tree: frozenset[str]) -> bool:
    d = posixpath.dirname(doc.path)
    base = posixpath.basename(doc.path)
    if posixpath.join(d, base + ".dockerignore") in tree:
        return True
    while True:
        if posixpath.join(d, ".dockerignore") in tree:
            return True
        if not d or d == "/":
            return False
        d = posixpath.dirname(d)


@check(
    "CH-DF-021",
    "Whole build context copied without a .dockerignore",
    "medium",
    FT,
    description="`COPY . ...` (or `ADD .`, `COPY * ...`) copies the entire build context while no `.dockerignore` "
    "(nor `<Dockerfile>.dockerignore`) exists next to the Dockerfile or in a directory above it in the scanned "
    "tree. Silent when only the Dockerfile itself was scanned.",
    rationale="""
The build context is everything in the directory: `.git` with its history, `.env` files, local
credentials, editor backups, test data. Without a .dockerignore all of it is copied into the image,
where anyone with pull access can read it, and every unrelated file change invalidates the build
cache.
""",
    remediation="Add a `.dockerignore` that excludes `.git`, `.env*`, credentials and build output (or copy only "
    "the paths the image needs: `COPY src/ /app/src/`).",
    references=("https://docs.docker.com/build/concepts/context/#dockerignore-files", CIS, _attack("T1552.001")),
    frameworks=Framework(cis_docker="4.10", nist_800_190="4.1.4", mitre_attack="T1552.001"),
)
def context_without_dockerignore(doc: Document, options: Options) -> Iterator[Violation]:
    tree = options.tree_files
    if not tree or tree <= {doc.path} or _has_dockerignore(doc, tree):
        return
    m = _model(doc)
    for st in m.stages:
        for ins in st.instructions:
            if ins.cmd not in ("COPY", "ADD") or ins.flag("from") is not None or len(ins.args) < 2:
                continue
            srcs = _sources(m, ins)
            if srcs and any(s in _WHOLE_CONTEXT for s in srcs):
                yield _at_ins(
                    ins,
                    f"{ins.cmd} copies the whole build context, and there is no .dockerignore to keep .git, .env "
                    "files and credentials out.",
                    fix="Add a .dockerignore next to the Dockerfile (at least `.git`, `.env*`, `*.pem`, `*.key`), or "
                    "copy only what the image needs.",
                )


# --------------------------------------------------------------------------------------------
# package managers

_APT = frozenset({"apt-get", "apt", "aptitude"})
_RPM = frozenset({"yum", "dnf", "microdnf", "tdnf"})
_FAMILY = {"apt-get": "apt", "apt": "apt", "aptitude": "apt", "apk": "apk", "zypper": "zypper"}
_FAMILY.update({k: "rpm" for k in _RPM})


def _removes(rs_list: Sequence[RunScript], target: str) -> bool:
    """Whether an `rm` in these scripts deletes `target` (or a directory above it, or its contents)."""
    for rs in rs_list:
        for cmd in rs.script.commands:
            if shell.program(cmd) != "rm":
                continue
            for w in cmd.words[1:]:
                a = w.text.rstrip("*").rstrip("/")
                if not a or w.text.startswith("-"):
                    continue
                if a.startswith("~/"):
                    a = "/root" + a[1:]
                if target == a or target.startswith(a + "/") or a.startswith(target + "/"):
                    return True
    return False


def _cache_mounted(ins: Instruction, *prefixes: str) -> bool:
    for kind in ("cache", "tmpfs"):
        for t in ins.mount_targets(kind):
            t = t.rstrip("/")
            if t and any(t == p or t.startswith(p + "/") or p.startswith(t + "/") for p in prefixes):
                return True
    return False


@check(
    "CH-DF-022",
    "Package index updated in a RUN of its own",
    "medium",
    FT,
    description="A RUN refreshes a package index (`apt-get update`, `apk update`, `zypper refresh`, "
    "`yum makecache`) without installing or upgrading anything with that package manager in the same RUN.",
    rationale="""
The layer with the refreshed index is cached: later builds reuse it and install packages from an index
that may be weeks old, so security updates published since are silently not installed, while the
Dockerfile looks like it fetches current packages. The index also becomes dead weight in its own
layer.
""",
    remediation="Update and install in one RUN: `RUN apt-get update && apt-get install -y --no-install-recommends "
    "pkg && rm -rf /var/lib/apt/lists/*`.",
    references=(BEST + "#apt-get", CIS),
    frameworks=Framework(cis_docker="4.7", nist_800_190="4.1.1"),
)
def update_alone(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc)):
        ops = [(rs, op) for rs, op in r.ins.package_ops() if op.manager in _FAMILY]
        families_installing = {_FAMILY[op.manager] for _rs, op in ops if op.action in ("install", "upgrade")}
        for rs, op in ops:
            if op.action == "update" and _FAMILY[op.manager] not in families_installing:
                cmd = _op_cmd(rs, op)
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    f"`{_describe_cmd(cmd)}` refreshes the index in a layer of its own; later builds reuse it stale.",
                    word=_op_word(rs, op),
                    fix="Move the update into the RUN that installs the packages, joined with `&&`.",
                )


_CACHE_DIRS = {
    "apt": ("/var/lib/apt/lists",),
    "rpm": ("/var/cache/yum", "/var/cache/dnf", "/var/cache/libdnf5", "/var/cache/tdnf"),
    "zypper": ("/var/cache/zypp",),
}
_MANAGER_CACHE = {
    "yum": "/var/cache/yum",
    "dnf": "/var/cache/dnf",
    "microdnf": "/var/cache/dnf",
    "tdnf": "/var/cache/tdnf",
    "apt-get": "/var/lib/apt/lists",
    "apt": "/var/lib/apt/lists",
    "aptitude": "/var/lib/apt/lists",
    "zypper": "/var/cache/zypp",
}
_CACHE_HINT = {
    "apt": "&& rm -rf /var/lib/apt/lists/*",
    "rpm": "&& {m} clean all",
    "zypper": "&& zypper clean --all",
}


@check(
    "CH-DF-023",
    "Package manager cache left in the layer",
    "low",
    FT,
    description="In a stage of the final image, a RUN installs or upgrades packages with apt-get/apt, yum, dnf, "
    "microdnf, tdnf or zypper and does not remove the package lists or cache in the same RUN "
    "(`rm -rf /var/lib/apt/lists/*`, `yum|dnf|microdnf clean all`, `zypper clean`). A BuildKit cache or tmpfs "
    "mount on the cache directory counts as clean. (apk: CH-DF-024.)",
    rationale="""
Package indexes and downloaded packages are never used at run time but are stored in the layer that
wrote them: tens to hundreds of megabytes in every pull, and stale indexes invite installing outdated
packages in a running container. Cleaning in a later RUN does not help, the bytes stay in the earlier
layer.
""",
    remediation="End the installing RUN with the cleanup, e.g. `... && rm -rf /var/lib/apt/lists/*`, or "
    "`... && dnf clean all`; or keep the cache out of the image with "
    "`RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt ...`.",
    references=(BEST + "#apt-get", CACHE_MOUNTS, CIS),
    frameworks=Framework(cis_docker="4.3", nist_800_190="4.1.2"),
)
def package_cache(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), shipped_only=True):
        ops = [(rs, op) for rs, op in r.ins.package_ops() if _FAMILY.get(op.manager) in _CACHE_DIRS]
        if not ops:
            continue
        cleaned_by_op = {_FAMILY[op.manager] for _rs, op in ops if op.action == "clean"}
        # apt writes its lists only on `update`: an install in a RUN without one adds no lists
        # to this layer (the stale lists of an earlier layer are CH-DF-022's finding)
        apt_refreshed = any(_FAMILY[op.manager] == "apt" and op.action == "update" for _rs, op in ops)
        reported: set[str] = set()
        for rs, op in ops:
            fam = _FAMILY[op.manager]
            if op.action not in ("install", "upgrade") or fam in reported:
                continue
            if (fam != "apt" and fam in cleaned_by_op) or (fam == "apt" and not apt_refreshed):
                continue
            if any(_removes(r.ins.scripts, d) for d in _CACHE_DIRS[fam]):
                continue
            mounts = _CACHE_DIRS[fam] + (("/var/lib/apt", "/var/cache/apt") if fam == "apt" else ())
            if _cache_mounted(r.ins, *mounts):
                continue
            reported.add(fam)
            cmd = _op_cmd(rs, op)
            hint = _CACHE_HINT[fam].format(m=op.manager)
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{_describe_cmd(cmd)}` leaves the package cache ({_MANAGER_CACHE[op.manager]}) in this layer.",
                word=_op_word(rs, op),
                fix=f"Clean up at the end of the same RUN: `{hint}`.",
            )


@check(
    "CH-DF-024",
    "apk cache left in the layer",
    "low",
    FT,
    description="In a stage of the final image, `apk add` runs without `--no-cache`, or `apk update` refreshes "
    "the index, and the same RUN does not remove /var/cache/apk (nor mounts a cache there).",
    rationale="""
The APK index and packages fetched into /var/cache/apk are stored in the layer: a few megabytes per
layer that are never used at run time and stale indexes that invite installing outdated packages later.
`--no-cache` fetches the index into a temporary location and leaves nothing behind.
""",
    remediation="Use `apk add --no-cache <packages>` (which also makes a separate `apk update` unnecessary).",
    references=("https://wiki.alpinelinux.org/wiki/Alpine_Package_Keeper#Local_Cache", BEST, CIS),
    frameworks=Framework(cis_docker="4.3", nist_800_190="4.1.2"),
)
def apk_cache(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), shipped_only=True):
        ops = [(rs, op) for rs, op in r.ins.package_ops() if op.manager == "apk"]
        if not ops:
            continue
        if _removes(r.ins.scripts, "/var/cache/apk") or _cache_mounted(r.ins, "/var/cache/apk", "/etc/apk/cache"):
            continue
        if any(op.action == "cache" for _rs, op in ops):
            continue
        for rs, op in ops:
            cmd = _op_cmd(rs, op)
            if op.action == "install" and not op.has("--no-cache") and not _dynamic(cmd, op.manager_word + 1):
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    f"`{_describe_cmd(cmd)}` keeps the APK index in /var/cache/apk in this layer.",
                    word=_op_word(rs, op),
                    fix="Use `apk add --no-cache`.",
                    edit=_insert_after(doc, r.ins, rs, _op_word(rs, op), " --no-cache"),
                )
            elif op.action == "update":
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    "`apk update` stores the index in /var/cache/apk in this layer.",
                    word=_op_word(rs, op),
                    fix="Drop `apk update` and use `apk add --no-cache`, which fetches a fresh index and keeps none.",
                )


_APT_NO_RECOMMENDS = re.compile(r"(?i)APT::Install-Recommends\W+(false|0|no)\b")
_APT_ASSUME_YES = re.compile(r"(?i)APT::Get::Assume-?Yes\W+(true|1|yes)\b")
_YUM_ASSUME_YES = re.compile(r"(?im)^\s*assumeyes\s*=\s*(1|true|yes)\b|echo\W+assumeyes\s*=\s*(1|true|yes)")


def _first_in_chain(m: DockerfileModel, stage: Stage, key: str, test: Callable[[Instruction], bool]) -> int:
    """`Instruction.index` of the first instruction of the stage's chain passing `test` (a large
    number if none does); computed once per stage and question, so checks stay linear."""

    def compute() -> int:
        return next((i.index for i in _in_chain(m, stage) if test(i)), 1 << 30)

    return m.memo(f"df.first.{key}.{stage.index}", compute)


def _configured(m: DockerfileModel, r: _Run, setting: re.Pattern[str]) -> bool:
    """Whether an instruction before this RUN (in its stage chain) configures the package manager,
    e.g. writes `APT::Install-Recommends "false";` into /etc/apt/apt.conf.d."""

    def writes(ins: Instruction) -> bool:
        return ins.cmd in ("RUN", "COPY", "ADD") and bool(setting.search(_texts(ins)))

    return _first_in_chain(m, r.stage, setting.pattern, writes) < r.ins.index


@check(
    "CH-DF-025",
    "apt-get install without --no-install-recommends",
    "low",
    FT,
    description="In a stage of the final image, `apt-get install` (or `apt install`) runs without "
    "`--no-install-recommends` (or `-o APT::Install-Recommends=false`) and no earlier step configures APT to "
    "skip recommended packages.",
    rationale="""
By default APT also installs every package the requested ones merely recommend: often dozens of extra
packages (documentation tools, X libraries, compilers) the image never uses, each one more to patch and
more CVEs in every scan, and more tools for an attacker who gets a shell.
""",
    remediation="Add `--no-install-recommends` and list what is really needed: "
    "`apt-get install -y --no-install-recommends curl ca-certificates`.",
    references=(BEST + "#apt-get", CIS, NIST),
    frameworks=Framework(cis_docker="4.3", nist_800_190="4.1.1"),
)
def apt_recommends(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, shipped_only=True):
        for rs, op in r.ins.package_ops():
            if op.manager not in ("apt-get", "apt") or op.raw_action not in ("install", "reinstall") or not op.packages:
                continue
            if op.has("--no-install-recommends") or any(
                re.match(r"(?i)APT::Install-Recommends\s*=\s*\"?(false|0|no)", v) for v in op.values("-o", "--option")
            ):
                continue
            cmd = _op_cmd(rs, op)
            if _dynamic(cmd, op.manager_word + 1) or _configured(m, r, _APT_NO_RECOMMENDS):
                continue
            w = _op_word(rs, op)
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{_describe_cmd(cmd)}` also installs every recommended package.",
                word=w,
                fix="Add `--no-install-recommends` after `install`.",
                edit=_insert_after(doc, r.ins, rs, w, " --no-install-recommends"),
            )


def _pip_cache_off(r: _Run, rs: RunScript, cmd: shell.SimpleCommand) -> bool:
    if (r.ins.vars.get("PIP_NO_CACHE_DIR") or "").strip():
        return True
    if any(a.startswith("PIP_NO_CACHE_DIR=") and a.split("=", 1)[1] for a in cmd.assignments):
        return True
    for c in rs.script.commands:
        if c.name in ("export", "env") and any(a.startswith("PIP_NO_CACHE_DIR=") for a in c.argv[1:]):
            return True
    for t in r.ins.mount_targets("cache") + r.ins.mount_targets("tmpfs"):
        if "/.cache" in t or t.rstrip("/").endswith("/pip"):
            return True
    return any(_removes(r.ins.scripts, p) for p in ("/root/.cache/pip", "/root/.cache"))


@check(
    "CH-DF-026",
    "pip install without --no-cache-dir",
    "low",
    FT,
    description="In a stage of the final image, `pip install` runs without `--no-cache-dir`, with no "
    "`PIP_NO_CACHE_DIR` in the environment, no cache mount on ~/.cache and no removal of ~/.cache/pip in the "
    "same RUN. (`uv pip` has its own cache and is not reported.)",
    rationale="""
pip keeps every downloaded wheel and source archive in ~/.cache/pip; inside an image build nothing
ever reuses it, so the layer carries a second copy of every installed package, often hundreds of
megabytes for scientific stacks.
""",
    remediation="Add `--no-cache-dir` (`pip install --no-cache-dir -r requirements.txt`), set "
    "`ENV PIP_NO_CACHE_DIR=1`, or use `RUN --mount=type=cache,target=/root/.cache/pip pip install ...`.",
    references=("https://pip.pypa.io/en/stable/topics/caching/", BEST, CIS),
    frameworks=Framework(cis_docker="4.3", nist_800_190="4.1.2"),
)
def pip_cache(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), shipped_only=True):
        for rs, op in r.ins.package_ops():
            if op.manager != "pip" or op.action != "install" or op.has("--no-cache-dir"):
                continue
            cmd = _op_cmd(rs, op)
            if cmd.words[op.manager_word].text.rsplit("/", 1)[-1] == "uv" or _dynamic(cmd, op.manager_word + 1):
                continue
            if _pip_cache_off(r, rs, cmd):
                continue
            w = _op_word(rs, op)
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{_describe_cmd(cmd)}` stores pip's download cache in the layer.",
                word=w,
                fix="Add `--no-cache-dir` after `install`.",
                edit=_insert_after(doc, r.ins, rs, w, " --no-cache-dir"),
            )


_SYSTEM_MANAGERS = _APT | _RPM | {"apk", "zypper"}


@check(
    "CH-DF-027",
    "Upgrade of all installed packages in the image",
    "low",
    FT,
    description="In a stage of the final image, a RUN upgrades every installed package: `apt-get upgrade`, "
    "`dist-upgrade`, `yum update`, `dnf upgrade`, `apk upgrade`, `zypper update`/`dup`. Upgrading named "
    "packages (a targeted security fix) is not reported.",
    rationale="""
A blanket upgrade makes the image's contents depend on the day it was built rather than on the base
image: two builds of one Dockerfile differ, the result no longer matches the base image that was
tested and scanned, and it hides that the base image itself is out of date. The maintained fix is a
newer base image, rebuilt regularly.
""",
    remediation="Use a current, patched base image (pinned by digest and updated by a bot) and rebuild "
    "regularly instead of upgrading inside the Dockerfile; upgrade named packages if one fix cannot wait.",
    references=(CIS, BEST + "#apt-get"),
    frameworks=Framework(cis_docker="4.4", nist_800_190="4.1.1"),
)
def full_upgrade(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), shipped_only=True):
        for rs, op in r.ins.package_ops():
            if op.manager in _SYSTEM_MANAGERS and op.action == "upgrade" and not op.packages:
                cmd = _op_cmd(rs, op)
                if _dynamic(cmd, op.manager_word + 1):
                    continue
                yield _at_word(
                    r.ins,
                    rs,
                    cmd,
                    f"`{_describe_cmd(cmd)}` upgrades every package of the base image at build time.",
                    word=_op_word(rs, op),
                    fix="Remove the upgrade and use an up-to-date base image (rebuild when it is updated).",
                )


def _apt_assumes_yes(op: shell.PackageOp) -> bool:
    if op.has("-y", "--yes", "--assume-yes", "--force-yes"):
        return True
    quiet = sum(1 for o, v in op.options if o in ("-q", "--quiet") and v is None)
    if quiet >= 2 or any(v in ("2",) for v in op.values("-q", "--quiet")):
        return True
    return any(re.match(r"(?i)APT::Get::Assume-Yes\s*=\s*\"?(true|1|yes)", v) for v in op.values("-o", "--option"))


def _fed_yes(rs: RunScript, cmd: shell.SimpleCommand) -> bool:
    if cmd.pipe_pos == 0 or cmd.pipeline < 0:
        return False
    first = rs.script.commands[rs.script.pipelines[cmd.pipeline].commands[0]]
    return first.name == "yes"


@check(
    "CH-DF-028",
    "Package manager may prompt for confirmation",
    "low",
    FT,
    description="`apt-get`/`apt` install, remove or upgrade without `-y` (or `--yes`, `-qq`, "
    "`APT::Get::Assume-Yes`), yum/dnf without `-y`, or zypper without `-n`/`--non-interactive` "
    "(`-y` after install). Not reported when `yes |` feeds it or an earlier step configures Assume-Yes.",
    rationale="""
A build has no terminal to answer "Do you want to continue? [Y/n]": the package manager reads end of
input, aborts, and the build fails, but only on the day a dependency change makes it ask, which turns a
routine rebuild (say, for a security update) into a broken pipeline.
""",
    remediation="Answer up front: `apt-get install -y`, `dnf install -y`, `zypper --non-interactive install`.",
    references=(BEST + "#apt-get",),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def interactive_install(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m):
        for rs, op in r.ins.package_ops():
            cmd = _op_cmd(rs, op)
            if op.action not in ("install", "remove", "upgrade") or _dynamic(cmd, op.manager_word + 1):
                continue
            if _fed_yes(rs, cmd):
                continue
            flag = ""
            edit = None
            if op.manager in ("apt-get", "apt"):
                if _apt_assumes_yes(op) or _configured(m, r, _APT_ASSUME_YES):
                    continue
                flag = "-y"
                edit = _insert_after(doc, r.ins, rs, _op_word(rs, op), " -y")
            elif op.manager in ("yum", "dnf", "tdnf"):
                if op.has("-y", "--assumeyes") or _configured(m, r, _YUM_ASSUME_YES):
                    continue
                flag = "-y"
                edit = _insert_after(doc, r.ins, rs, _op_word(rs, op), " -y")
            elif op.manager == "zypper":
                if op.has("-n", "--non-interactive", "-y", "--no-confirm"):
                    continue
                flag = "--non-interactive"
                edit = _insert_after(doc, r.ins, rs, cmd.words[op.manager_word], " --non-interactive")
            else:
                continue
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{_describe_cmd(cmd)}` asks for confirmation when it has more to do than the named packages, and "
                "aborts without a terminal.",
                word=_op_word(rs, op) if op.manager != "zypper" else cmd.words[op.manager_word],
                fix=f"Add `{flag}`.",
                edit=edit,
            )


_APT_GET_ACTIONS = frozenset(
    {"install", "reinstall", "remove", "purge", "update", "upgrade", "autoremove", "clean", "autoclean", "dist-upgrade"}
)


@check(
    "CH-DF-029",
    "apt used in a script instead of apt-get",
    "low",
    FT,
    description="A RUN calls `apt` (the interactive front end) rather than `apt-get`.",
    rationale="""
`apt` is made for people at a terminal: its output and options are explicitly not a stable interface
(it warns so on stderr), progress bars and prompts change between releases, so scripts that parse or
depend on its behaviour break on a base image update. `apt-get` keeps a stable command line.
""",
    remediation="Use `apt-get` (and `apt-cache` for queries) in Dockerfiles.",
    references=(BEST + "#apt-get", "https://manpages.debian.org/bookworm/apt/apt.8.en.html"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def apt_not_apt_get(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc)):
        for rs, op in r.ins.package_ops():
            if op.manager != "apt":
                continue
            cmd = _op_cmd(rs, op)
            w = cmd.words[op.manager_word]
            edit = _replace_word(doc, r.ins, rs, w, "apt-get") if op.raw_action in _APT_GET_ACTIONS else None
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{_describe_cmd(cmd)}` uses apt, whose command line is not meant for scripts.",
                word=w,
                fix="Use `apt-get` instead of `apt`.",
                edit=edit,
            )


# -- version pins


def _plain_package(word: str) -> bool:
    """A package name we can judge: not an option, a computed word, a file or a URL."""
    return bool(word) and not word.startswith("-") and "$" not in word and "`" not in word


Pinned = Callable[[str, shell.PackageOp], bool]


def _apt_pinned(w: str, op: shell.PackageOp) -> bool:
    return "=" in w or "/" in w or w.endswith(".deb") or "*" in w


def _apk_pinned(w: str, op: shell.PackageOp) -> bool:
    return any(c in w for c in "=~<>") or w.endswith(".apk") or "/" in w


def _pip_pinned(w: str, op: shell.PackageOp) -> bool:
    if any(s in w for s in ("==", "~=", "<", "@")) or w.startswith((".", "/")) or "/" in w or ":" in w:
        return True
    return w.endswith((".whl", ".tar.gz", ".zip", ".tgz"))


def _npm_pinned(w: str, op: shell.PackageOp) -> bool:
    name = w[1:] if w.startswith("@") else w
    if "@" in name:
        version = name.split("@", 1)[1]
        return version not in ("", "latest", "next")
    if w.startswith(("@",)) and "/" in w:
        return False  # a scoped name without version
    return "/" in w or ":" in w or w.endswith((".tgz", ".tar.gz")) or w.startswith(".")


def _gem_pinned(w: str, op: shell.PackageOp) -> bool:
    return op.has("-v", "--version") or ":" in w or w.endswith(".gem")


def _unpinned(op: shell.PackageOp, pinned: Pinned) -> list[shell.Word]:
    return [w for w in op.packages if _plain_package(w.text) and not pinned(w.text, op)]


def _pin_check(
    doc: Document, options: Options, managers: frozenset[str], actions: frozenset[str], pinned: Pinned, how: str
) -> Iterator[Violation]:
    if not options.pin_packages:
        return
    for r in _runs(_model(doc)):
        for rs, op in r.ins.package_ops():
            if op.manager not in managers or op.raw_action not in actions:
                continue
            if op.manager == "pip" and op.has("-c", "--constraint"):
                continue
            words = _unpinned(op, pinned)
            if not words:
                continue
            cmd = _op_cmd(rs, op)
            names = ", ".join(w.text for w in words[:5]) + (" ..." if len(words) > 5 else "")
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{op.manager} {op.raw_action}` installs {names} without a version: each build may get another one.",
                word=words[0],
                fix=how,
            )


_PIN_RATIONALE = """
Without versions, what a build installs depends on the day it runs: two builds of one Dockerfile
differ, a broken or compromised release is picked up automatically, and a scan of yesterday's image
says little about today's. Pinned versions make builds reproducible and updates deliberate (and
reviewable, when a bot proposes them).
"""


@check(
    "CH-DF-030",
    "apt-get install without version pins",
    "low",
    FT,
    description="`apt-get install` (or `apt`, `aptitude`) names packages without `=version`. Local `.deb` files, "
    "release pins (`pkg/bookworm-backports`) and computed names are not reported. Off with "
    "`--no-pin-check`.",
    rationale=_PIN_RATIONALE,
    remediation="Pin each package: `apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5`, and "
    "update the pins with the base image.",
    references=(BEST + "#apt-get",),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.1"),
)
def apt_unpinned(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _pin_check(
        doc,
        options,
        _APT,
        frozenset({"install", "reinstall"}),
        _apt_pinned,
        "Pin versions: `apt-get install pkg=<version>`.",
    )


@check(
    "CH-DF-031",
    "apk add without version pins",
    "low",
    FT,
    description="`apk add` names packages without a version constraint (`pkg=1.2.3-r0`, `pkg~1.2`). Virtual "
    "package names, local `.apk` files and computed names are not reported. Off with `--no-pin-check`.",
    rationale=_PIN_RATIONALE,
    remediation="Pin each package: `apk add --no-cache curl=8.9.1-r1` or allow patch updates with `curl~8.9`.",
    references=("https://wiki.alpinelinux.org/wiki/Alpine_Package_Keeper#Advanced_APK_Usage",),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.1"),
)
def apk_unpinned(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _pin_check(
        doc, options, frozenset({"apk"}), frozenset({"add"}), _apk_pinned, "Pin versions: `apk add pkg=<version>`."
    )


@check(
    "CH-DF-032",
    "pip install without version pins",
    "low",
    FT,
    description="`pip install` names packages without an exact or bounded version (`pkg==1.2.3`, `pkg~=1.2`). "
    "Installs from requirements or constraints files (`-r`, `-c`), local paths, wheels and URLs are not "
    "reported. Off with `--no-pin-check`.",
    rationale=_PIN_RATIONALE,
    remediation="Pin versions (`pip install flask==3.0.3`), or better install from a requirements file with "
    "hashes: `pip install --require-hashes -r requirements.txt`.",
    references=("https://pip.pypa.io/en/stable/topics/repeatable-installs/",),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.1"),
)
def pip_unpinned(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _pin_check(
        doc,
        options,
        frozenset({"pip"}),
        frozenset({"install"}),
        _pip_pinned,
        "Pin versions (`pip install pkg==<version>`) or install from a hashed requirements file.",
    )


@check(
    "CH-DF-033",
    "npm install of packages without version pins",
    "low",
    FT,
    description="`npm install <pkg>` (also `npm i -g`, `yarn add`, `pnpm add`) names packages without "
    "`@version`. Installing a project's dependencies (`npm ci`, `npm install` without names) and tarballs, "
    "paths and git URLs are not reported. Off with `--no-pin-check`.",
    rationale=_PIN_RATIONALE,
    remediation="Pin versions (`npm install -g typescript@5.5.4`), or declare the tool in package.json with a "
    "lockfile and run `npm ci`.",
    references=("https://docs.npmjs.com/cli/commands/npm-install",),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.1"),
)
def npm_unpinned(doc: Document, options: Options) -> Iterator[Violation]:
    actions = frozenset({"install", "i", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "add"})
    yield from _pin_check(doc, options, _NPMS, actions, _npm_pinned, "Pin versions: `npm install pkg@<version>`.")


@check(
    "CH-DF-034",
    "gem install without version pins",
    "low",
    FT,
    description="`gem install` names gems without `-v`/`--version` or `name:version`. Local `.gem` files are not "
    "reported. Off with `--no-pin-check`.",
    rationale=_PIN_RATIONALE,
    remediation="Pin the version: `gem install bundler -v 2.5.16`, or install from a Gemfile.lock with "
    "`bundle install`.",
    references=("https://guides.rubygems.org/command-reference/#gem-install",),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.1"),
)
def gem_unpinned(doc: Document, options: Options) -> Iterator[Violation]:
    yield from _pin_check(
        doc,
        options,
        frozenset({"gem"}),
        frozenset({"install", "i"}),
        _gem_pinned,
        "Pin versions: `gem install name -v <version>`.",
    )


_NPM_INSTALL = frozenset({"install", "i", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "isntall"})
_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")


def _lockfile_copied(doc: Document, m: DockerfileModel, r: _Run, tree: frozenset[str]) -> bool:
    here = posixpath.dirname(doc.path)

    def copies_lockfile(ins: Instruction) -> bool:
        return ins.cmd in ("COPY", "ADD") and ins.flag("from") is None and _copies_lockfile(m, ins, here, tree)

    return _first_in_chain(m, r.stage, "lockfile", copies_lockfile) < r.ins.index


def _copies_lockfile(m: DockerfileModel, ins: Instruction, here: str, tree: frozenset[str]) -> bool:
    """Whether a COPY/ADD from the build context brings package-lock.json (named, matched by a
    glob such as `package*.json`, or inside a copied directory of the scanned tree)."""
    for src in _sources(m, ins) or []:
        s = _normalise_src(src)
        base = s.rstrip("/").rsplit("/", 1)[-1]
        if base not in ("", "*") and any(fnmatch.fnmatchcase(lock, base) for lock in _LOCKFILES):
            return True
        if s in ("", "*", "."):
            directory = here
        elif s.endswith("/") or "." not in base:
            directory = posixpath.join(here, s.rstrip("/"))
        else:
            continue
        if any(posixpath.join(directory, lock) in tree for lock in _LOCKFILES):
            return True
    return False


@check(
    "CH-DF-035",
    "npm install used where npm ci fits",
    "low",
    FT,
    description="`npm install` installs a project's dependencies although the lockfile (package-lock.json or "
    "npm-shrinkwrap.json) is copied into the build; `npm ci` installs exactly what it records.",
    rationale="""
`npm install` resolves version ranges again and may update the lockfile in the build, so the image can
contain dependency versions nobody reviewed or scanned, and a freshly published malicious version in
range is picked up. `npm ci` installs exactly the locked versions (verifying their integrity hashes) or
fails.
""",
    remediation="Use `npm ci` (with `--omit=dev` for production images).",
    references=("https://docs.npmjs.com/cli/commands/npm-ci",),
    frameworks=Framework(cis_docker="4.11", nist_800_190="4.1.1"),
)
def npm_install_not_ci(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m):
        for rs, op in r.ins.package_ops():
            if op.manager != "npm" or op.raw_action not in _NPM_INSTALL or op.packages or op.has("-g", "--global"):
                continue
            cmd = _op_cmd(rs, op)
            if _dynamic(cmd, op.manager_word + 1) or not _lockfile_copied(doc, m, r, options.tree_files):
                continue
            w = _op_word(rs, op)
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`{_describe_cmd(cmd)}` re-resolves dependencies although the lockfile is in the build.",
                word=w,
                fix="Use `npm ci`.",
                edit=_replace_word(doc, r.ins, rs, w, "ci"),
            )


_VERSION_MARK = re.compile(r"[=~<>:]")


def _package_name(word: str) -> str:
    """`curl=7.88*` -> `curl`: the name before a version (or architecture) qualifier, lower case."""
    m = _VERSION_MARK.search(word)
    return (word[: m.start()] if m else word).lower()


@check(
    "CH-DF-036",
    "SSH server in the image",
    "medium",
    FT,
    description="A stage of the final image installs an SSH server (`openssh-server`, `dropbear`, Debian's `ssh` "
    "metapackage, Alpine's `openssh`) or the image's command starts `sshd`/`dropbear`.",
    rationale="""
An SSH daemon in a container is a second way in that bypasses the orchestrator's access control,
audit and lifecycle: its keys and passwords must be managed per container, it is another network
service to patch, and it invites treating containers like long-lived servers.
""",
    remediation="Remove the SSH server; get a shell through the orchestrator (`docker exec`, `kubectl exec`, "
    "`kubectl debug`) when one is needed.",
    references=(CIS, NIST, _attack("T1021.004")),
    frameworks=Framework(cis_docker="5.7", nist_800_190="4.1.2", mitre_attack="T1021.004"),
)
def ssh_server(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for r in _runs(m, shipped_only=True):
        for rs, op in r.ins.package_ops():
            if op.action != "install" or op.manager not in _SYSTEM_MANAGERS:
                continue
            for w in op.packages:
                name = _package_name(w.text)
                server = name in ("openssh-server", "dropbear", "dropbear-bin")
                server = server or (name == "ssh" and op.manager in _APT) or (name == "openssh" and op.manager == "apk")
                if not server:
                    continue
                yield _at_word(
                    r.ins,
                    rs,
                    _op_cmd(rs, op),
                    f"`{op.manager} {op.raw_action}` installs an SSH server ({w.text}).",
                    word=w,
                    fix=f"Remove {w.text}; use `docker exec`/`kubectl exec` for access.",
                )
    for ins in _effective_commands(m):
        if _starts_ssh(ins):
            yield _at_ins(ins, f"{ins.cmd} starts an SSH server.", fix="Run the service itself, not sshd.")


def _starts_ssh(ins: Instruction) -> bool:
    """Whether one of the first three words of a CMD/ENTRYPOINT is sshd or dropbear. A word is
    a piece of the text with quotes and backslashes taken out: without either name in the text
    so cleaned, no word can be one, and the shell-style split (slow) is skipped."""
    bare = " ".join(ins.args).replace('"', "").replace("'", "").replace("\\", "")
    if "sshd" not in bare and "dropbear" not in bare:
        return False
    return any(a.rsplit("/", 1)[-1] in ("sshd", "dropbear") for a in _command_argv(ins)[:3])


def _command_argv(ins: Instruction) -> list[str]:
    if ins.json:
        return list(ins.args)
    try:
        return shlex.split(" ".join(ins.args))
    except ValueError:
        return " ".join(ins.args).split()


# --------------------------------------------------------------------------------------------
# runtime configuration of the image


def _effective_commands(m: DockerfileModel) -> list[Instruction]:
    """The ENTRYPOINT and CMD the final image ends up with (an ENTRYPOINT resets a CMD inherited
    from an earlier stage, as BuildKit does)."""

    def compute() -> list[Instruction]:
        entry: Instruction | None = None
        cmd: Instruction | None = None
        for st in reversed(m.base_chain(m.final)):
            cmd_here = False
            for ins in st.instructions:
                if ins.cmd == "CMD":
                    cmd, cmd_here = ins, True
                elif ins.cmd == "ENTRYPOINT":
                    entry = ins
                    if not cmd_here:
                        cmd = None
        return [i for i in (entry, cmd) if i is not None]

    return m.memo("df.effective_commands", compute)


@check(
    "CH-DF-037",
    "No HEALTHCHECK",
    "low",
    FT,
    description="Neither the final stage nor a stage it is built `FROM` has a `HEALTHCHECK`. `HEALTHCHECK NONE` "
    "is an explicit decision (typically: health is probed by the orchestrator) and is not reported.",
    rationale="""
Without a health check the engine only knows whether the process exists, not whether it works: a hung
or deadlocked service keeps receiving traffic and is never restarted. (Kubernetes ignores image health
checks and uses its own probes; say so with `HEALTHCHECK NONE`.)
""",
    remediation="Add a cheap probe of the service itself, e.g. `HEALTHCHECK --interval=30s --timeout=3s CMD "
    '["/app/healthcheck"]`, or `HEALTHCHECK NONE` when the orchestrator probes it.',
    references=(REF + "#healthcheck", CIS),
    frameworks=Framework(cis_docker="4.6", nist_800_190="4.1.2"),
)
def no_healthcheck(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    if any(i.cmd == "HEALTHCHECK" for i in _in_chain(m, m.final)):
        return
    yield _at_ins(
        m.final.from_instruction,
        f"The final stage{' ' + repr(m.final.name) if m.final.name else ''} defines no HEALTHCHECK.",
        fix='Add `HEALTHCHECK CMD ["<probe>"]` (or `HEALTHCHECK NONE` if the orchestrator checks health).',
    )


_PORT_NAMES = {
    22: "SSH",
    23: "telnet",
    2375: "Docker API without TLS",
    2376: "Docker API",
    3389: "RDP",
    5900: "VNC",
    5985: "WinRM",
    5986: "WinRM over TLS",
    6443: "Kubernetes API",
    10250: "kubelet API",
}
_PORT_SPEC = re.compile(r"^(\d+)(?:-(\d+))?(?:/([A-Za-z]+))?$")


def _expose_words(m: DockerfileModel, ins: Instruction) -> Iterator[tuple[str, str]]:
    """(as written, value) of each EXPOSE word whose value is known."""
    for raw in ins.args:
        exp = expand(raw, ins.vars, m.escape)
        if exp.unresolved or not exp.value:
            continue
        for v in exp.value.split():
            yield raw, v


@check(
    "CH-DF-038",
    "Remote administration port exposed",
    "medium",
    FT,
    description="The final image `EXPOSE`s a port used for remote administration or control planes (SSH, telnet, "
    "Docker API, RDP, VNC, WinRM, Kubernetes API, kubelet; the list is configurable with `--admin-ports`).",
    rationale="""
Exposing an administration port announces (and with `docker run -P` publishes) a service that gives
control over the container or, for the Docker and kubelet APIs, over the host: a way in that bypasses
the orchestrator's access control and auditing.
""",
    remediation="Remove the port from EXPOSE and the service from the image; administer containers through the "
    "orchestrator (`docker exec`, `kubectl exec`).",
    references=(CIS, NIST, _attack("T1021")),
    frameworks=Framework(cis_docker="5.8", nist_800_190="4.1.2", mitre_attack="T1021"),
)
def admin_port(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for st in m.shipped():
        for ins in st.of("EXPOSE"):
            bad: list[tuple[str, int]] = []
            for raw, v in _expose_words(m, ins):
                pm = _PORT_SPEC.match(v)
                if not pm:
                    continue
                lo = int(pm.group(1))
                hi = int(pm.group(2) or lo)
                ports = [p for p in sorted(options.admin_ports) if lo <= p <= hi]
                bad.extend((raw, p) for p in ports)
            if not bad:
                continue
            replacement = ""
            bad_raw = {raw for raw, _p in bad}
            keep = [a for a in ins.args if a not in bad_raw]
            if _single_line(ins) and keep and not any("$" in a or "-" in a for a in ins.args):
                replacement = _keyword_line(doc, ins, " ".join(keep))
            names = ", ".join(f"{p} ({_PORT_NAMES[p]})" if p in _PORT_NAMES else str(p) for _r, p in bad)
            yield _at_ins(
                ins,
                f"The image exposes {names}.",
                fix="Remove the administration port from EXPOSE and the service that listens on it.",
                replacement=replacement,
            )


@check(
    "CH-DF-039",
    "EXPOSE with an invalid port",
    "low",
    FT,
    description="An `EXPOSE` word is not `port[/tcp|udp|sctp]` or `from-to[/protocol]` with ports 1-65535: "
    "a host mapping (`8080:80`), an address, a port above 65535, an unknown protocol.",
    rationale="""
EXPOSE documents which ports the image serves and feeds `docker run -P`; a mapping or address is
rejected by the builder and an out-of-range port cannot exist, so the instruction is a mistake that
either breaks the build or documents something else than the service really does.
""",
    remediation="Write container ports only (`EXPOSE 8080/tcp`); choose host ports when running the container "
    "(`-p 8080:80`).",
    references=(REF + "#expose",),
    frameworks=Framework(cis_docker="5.8", nist_800_190="4.1.2"),
)
def invalid_expose(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for st in m.stages:
        for ins in st.of("EXPOSE"):
            for _raw, v in _expose_words(m, ins):
                pm = _PORT_SPEC.match(v)
                why = ""
                if not pm:
                    why = "maps a host port or address, which EXPOSE cannot do" if ":" in v else "is not a port"
                else:
                    lo, hi = int(pm.group(1)), int(pm.group(2) or pm.group(1))
                    proto = (pm.group(3) or "tcp").lower()
                    if hi > 65535 or lo > 65535:
                        why = "is above 65535"
                    elif lo == 0:
                        why = "is port 0"
                    elif hi < lo:
                        why = "is a range that ends before it starts"
                    elif proto not in ("tcp", "udp", "sctp"):
                        why = f"names the protocol {pm.group(3)!r} (tcp, udp or sctp)"
                if why:
                    yield _at_ins(
                        ins, f"EXPOSE {v!r} {why}.", fix="Use `EXPOSE <port>[/tcp|udp|sctp]` with a port 1-65535."
                    )


_SHELL_SYNTAX = re.compile(r"[$`|&;<>(){}\[\]*?~\\#!\n'\"]|^\s*[A-Za-z_][A-Za-z0-9_]*=")
_BUILTINS = frozenset({"cd", "source", ".", "export", "set", "eval", "ulimit", "umask", "trap", "wait", "[", "exit"})


def exec_form(command: str) -> list[str] | None:
    """The argv a shell-form command means, when that can be known without a shell."""
    if _SHELL_SYNTAX.search(command):
        return None
    words = command.split()
    if words and words[0] == "exec":
        words = words[1:]
    if not words or words[0] in _BUILTINS:
        return None
    return words


@check(
    "CH-DF-040",
    "CMD or ENTRYPOINT in shell form",
    "low",
    FT,
    description="The final image's effective `ENTRYPOINT` or `CMD` is written in shell form (`CMD python app.py`), "
    'so it runs as `/bin/sh -c "..."`.',
    rationale="""
In shell form the container's PID 1 is a shell, which does not forward SIGTERM to the program:
`docker stop` and Kubernetes wait out the grace period and then SIGKILL it, so the service never shuts
down cleanly (connections dropped, files half-written). A shell-form ENTRYPOINT also ignores CMD and
the arguments given to `docker run`.
""",
    remediation='Use the exec (JSON) form: `CMD ["python", "app.py"]`; if shell features are needed, end the '
    "script with `exec` so the program replaces the shell.",
    references=(REF + "#shell-and-exec-form", BUILD_CHECKS + "json-args-recommended/"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def shell_form_command(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    if m.final.windows:
        return
    for ins in _effective_commands(m):
        if ins.json or not ins.args:
            continue
        text = " ".join(ins.args)
        argv = exec_form(text)
        replacement = ""
        if argv is not None and _single_line(ins):
            replacement = _keyword_line(doc, ins, json.dumps(argv, ensure_ascii=False))
        yield _at_ins(
            ins,
            f"{ins.cmd} runs through `/bin/sh -c`, so the program does not receive SIGTERM"
            + (" and CMD is ignored." if ins.cmd == "ENTRYPOINT" else "."),
            fix=f"Use the exec form: `{ins.cmd} {json.dumps(argv, ensure_ascii=False)}`."
            if argv
            else f'Use the exec form `{ins.cmd} ["program", "arg"]`, or start the command with `exec`.',
            replacement=replacement,
        )


@check(
    "CH-DF-041",
    "CMD, ENTRYPOINT or HEALTHCHECK repeated in a stage",
    "low",
    FT,
    description="A stage has more than one `CMD`, `ENTRYPOINT` or `HEALTHCHECK`; only the last one of each has "
    "any effect.",
    rationale="""
The earlier instructions are silently overridden, so what a reader takes for the container's command
or health check is not what runs; typically a merge or copy-paste leftover that hides the real
configuration from review.
""",
    remediation="Keep one of each per stage; delete the overridden ones.",
    references=(REF + "#cmd", BUILD_CHECKS + "multiple-instructions-disallowed/"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def repeated_instruction(doc: Document, options: Options) -> Iterator[Violation]:
    for st in _model(doc).stages:
        for kw in ("CMD", "ENTRYPOINT", "HEALTHCHECK"):
            items = st.of(kw)
            for ins in items[:-1]:
                yield _at_ins(
                    ins,
                    f"This {kw} is overridden by the one on line {items[-1].line} and has no effect.",
                    fix=f"Delete this {kw}.",
                )


# --------------------------------------------------------------------------------------------
# structure


@check(
    "CH-DF-042",
    "Relative WORKDIR",
    "low",
    FT,
    description="`WORKDIR` is given a relative path, which is resolved against whatever WORKDIR was in effect "
    "(possibly one set by the base image).",
    rationale="""
A relative WORKDIR makes the directory where files are copied and commands run depend on earlier
instructions or on the base image: a change of base image moves the application (and the paths that
permissions and mounts refer to) without any change in this Dockerfile.
""",
    remediation="Use absolute paths: `WORKDIR /app`.",
    references=(REF + "#workdir", BUILD_CHECKS + "workdir-relative-path/"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def relative_workdir(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for st in m.stages:
        if st.windows:
            continue
        for ins in st.of("WORKDIR"):
            if not ins.expanded or ins.unresolved:
                continue
            value = ins.expanded[0]
            if not value or value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", value):
                continue
            replacement = ""
            known = ins.workdir or ("/" if m.base_chain(st)[-1].scratch else "")
            if known and _single_line(ins) and "$" not in ins.args[0]:
                replacement = _keyword_line(doc, ins, posixpath.normpath(posixpath.join(known, value)))
            yield _at_ins(
                ins,
                f"WORKDIR {value!r} is relative"
                + (f" (it resolves to {posixpath.normpath(posixpath.join(known, value))})." if known else "."),
                fix="Use an absolute path.",
                replacement=replacement,
            )


@check(
    "CH-DF-043",
    "MAINTAINER is deprecated",
    "low",
    FT,
    description="The Dockerfile uses `MAINTAINER`, deprecated since Docker 1.13.",
    rationale="""
MAINTAINER fills a field of the image configuration that tools no longer read; the standard
`org.opencontainers.image.authors` label is what registries, scanners and SBOM tools show as the
image's author.
""",
    remediation='Replace it with `LABEL org.opencontainers.image.authors="name <email>"`.',
    references=(REF + "#maintainer-deprecated", BUILD_CHECKS + "maintainer-deprecated/"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def maintainer(doc: Document, options: Options) -> Iterator[Violation]:
    for ins in _model(doc).instructions:
        if ins.cmd != "MAINTAINER":
            continue
        replacement = ""
        if _single_line(ins):
            text = doc.source(ins.line)
            start = ins.column - 1
            value = text[start + len("MAINTAINER") :].strip()
            if value:
                quoted = value.replace("\\", "\\\\").replace('"', '\\"')
                replacement = _keyword_line(doc, ins, f'org.opencontainers.image.authors="{quoted}"', keyword="LABEL")
        yield _at_ins(
            ins,
            "MAINTAINER is deprecated.",
            fix='Use `LABEL org.opencontainers.image.authors="..."`.',
            replacement=replacement,
        )


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, for "did you mean" on stage names (short strings only)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _from_problem(m: DockerfileModel, st: Stage, value: str) -> str:
    """Why a `--from`/`from=` value that matched no earlier stage is a mistake, "" if it may be an image."""
    low = value.lower()
    if value.isdigit():
        n = int(value)
        if n == st.index:
            return f"refers to the stage it is in ({n})"
        if n > st.index:
            return f"refers to stage {n}, which is not defined before this one"
        return ""
    if st.name and low == st.name:
        return f"refers to its own stage {st.name!r}"
    later = next((s for s in m.stages[st.index + 1 :] if s.name == low), None)
    if later is not None:
        return f"refers to stage {later.name!r}, defined later, so BuildKit pulls an image named {value!r} instead"
    if re.fullmatch(r"[a-z0-9][a-z0-9._-]*", low) and len(low) >= 4:
        for s in m.stages[: st.index]:
            if s.name and _distance(low, s.name) <= 2:
                return f"matches no stage (did you mean {s.name!r}?), so BuildKit pulls the image {value!r} instead"
    return ""


@check(
    "CH-DF-044",
    "COPY --from names no earlier stage",
    "medium",
    FT,
    description="`COPY --from=X` (or `RUN --mount=from=X`) refers to the stage it is in, to a stage defined later, "
    "to a stage index that does not exist yet, or to a name that is one or two letters away from an earlier "
    "stage's name.",
    rationale="""
BuildKit resolves `--from` to an earlier stage by name or index; anything else is taken as an image
reference and pulled, by default from Docker Hub. A typo or a forward reference therefore copies files
from whatever public image has that name, an easy target for typo-squatting, instead of failing.
""",
    remediation="Refer to a stage defined above (`COPY --from=build ...`), or give the external image's full "
    "reference with tag and digest if an image is meant.",
    references=(REF + "#copy---from", NIST),
    frameworks=Framework(cis_docker="4.2", nist_800_190="4.1.5"),
)
def bad_copy_from(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    for st in m.stages:
        for ins in st.instructions:
            values: list[tuple[str, str]] = []
            cf = ins.copy_from
            if cf is not None and not cf.unresolved and cf.stage is None and cf.value:
                values.append(("--from", cf.value))
            for mount in ins.mounts:
                raw = mount.get("from")
                if raw:
                    exp = expand(raw, ins.vars, m.escape)
                    if not exp.unresolved and exp.value and not _stage_ref(m, exp.value, st.index):
                        values.append(("--mount from", exp.value))
            for how, value in values:
                why = _from_problem(m, st, value)
                if why:
                    yield _at_ins(
                        ins,
                        f"{ins.cmd} {how}={value} {why}.",
                        fix="Name a stage defined above this one, or a full image reference.",
                    )


@check(
    "CH-DF-045",
    "Duplicate stage name",
    "low",
    FT,
    description="Two `FROM ... AS name` use the same stage name (names are case-insensitive).",
    rationale="""
`--from=name`, `FROM name` and `docker build --target name` then silently pick one of the stages, so
what is copied or built is not what a reader of the other stage expects; usually a copy-paste mistake.
""",
    remediation="Give every stage a unique name.",
    references=(BUILD_CHECKS + "duplicate-stage-name/", REF + "#from"),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def duplicate_stage(doc: Document, options: Options) -> Iterator[Violation]:
    seen: dict[str, Stage] = {}
    for st in _model(doc).stages:
        if not st.name:
            continue
        first = seen.get(st.name)
        if first is None:
            seen[st.name] = st
            continue
        yield _at_ins(
            st.from_instruction,
            f"Stage name {st.name!r} is already used by the stage on line {first.line}.",
            fix="Rename one of the stages.",
        )


@check(
    "CH-DF-046",
    "ONBUILD trigger",
    "low",
    FT,
    description="The Dockerfile registers `ONBUILD` triggers, which run later, inside the builds of images that "
    "use this one as their base.",
    rationale="""
ONBUILD steps run in someone else's build, with that build's context and secrets, without appearing in
the Dockerfile being built: `ONBUILD COPY . /app` or `ONBUILD RUN` make the child image's content
depend on code its authors cannot see, which is hard to review and easy to abuse in a shared base image.
""",
    remediation="Replace ONBUILD with explicit instructions in the Dockerfiles that use the image (or document the "
    "triggers prominently if a builder image truly needs them).",
    references=(REF + "#onbuild",),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def onbuild(doc: Document, options: Options) -> Iterator[Violation]:
    for ins in _model(doc).instructions:
        if ins.cmd == "ONBUILD":
            what = ins.trigger.cmd if ins.trigger is not None else "an instruction"
            yield _at_ins(
                ins,
                f"ONBUILD registers {what} to run in the builds of every image based on this one.",
                fix="Move the step into the child images' Dockerfiles.",
            )


_USERADD_VALUE_OPTS = frozenset("bcdefgGkKpPRsuUZ") - {"U"}
_LASTLOG_ENTRY = 292  # bytes per uid in /var/log/lastlog on 64-bit glibc systems
_BIG_UID = 65536


def _useradd(cmd: shell.SimpleCommand) -> tuple[bool, int | None, shell.Word | None]:
    """(has -l/--no-log-init, uid, the `useradd` word)."""
    i = shell.unwrap(cmd)
    if i >= len(cmd.words) or cmd.words[i].text.rsplit("/", 1)[-1] != "useradd":
        return False, None, None
    words = cmd.words[i + 1 :]
    no_log = False
    uid: int | None = None
    k = 0
    while k < len(words):
        t = words[k].text
        if t == "--no-log-init":
            no_log = True
        elif t.startswith("--uid"):
            v = t.split("=", 1)[1] if "=" in t else (words[k + 1].text if k + 1 < len(words) else "")
            uid = int(v) if v.isdigit() else uid
            k += 0 if "=" in t else 1
        elif t.startswith("-") and not t.startswith("--"):
            for n, ch in enumerate(t[1:]):
                if ch == "l":
                    no_log = True
                elif ch in _USERADD_VALUE_OPTS:
                    rest = t[n + 2 :]
                    v = rest or (words[k + 1].text if k + 1 < len(words) else "")
                    if not rest:
                        k += 1
                    if ch == "u" and v.isdigit():
                        uid = int(v)
                    break
        k += 1
    return no_log, uid, cmd.words[i]


@check(
    "CH-DF-047",
    "useradd with a large UID without -l",
    "low",
    FT,
    description=f"In a stage of the final image, `useradd` creates a user with a UID of {_BIG_UID} or more without "
    "`-l`/`--no-log-init`.",
    rationale="""
useradd records the new user in /var/log/lastlog and /var/log/faillog, sparse files indexed by UID:
for a large UID they grow to (UID x 292) bytes. Image layers do not keep files sparse, so a UID of
100000 adds about 29 MB of zeros to the image, and a UID in the millions gigabytes.
""",
    remediation="Add `-l` (`--no-log-init`): `useradd -l -r -u 100000 app`.",
    references=("https://manpages.debian.org/bookworm/passwd/useradd.8.en.html",),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def useradd_lastlog(doc: Document, options: Options) -> Iterator[Violation]:
    for r in _runs(_model(doc), shipped_only=True):
        for rs, _i, cmd in _commands(r):
            no_log, uid, w = _useradd(cmd)
            if w is None or no_log or uid is None or uid < _BIG_UID:
                continue
            size = uid * _LASTLOG_ENTRY / (1 << 20)
            yield _at_word(
                r.ins,
                rs,
                cmd,
                f"`useradd` with UID {uid} writes about {size:.0f} MB of /var/log/lastlog into the layer.",
                word=w,
                fix="Add `-l` (`--no-log-init`).",
                edit=_insert_after(doc, r.ins, rs, w, " -l"),
            )


def _pipefail_set(script: shell.ShellScript, cmd: shell.SimpleCommand) -> bool:
    if cmd.parent < 0:
        return script.pipefail
    return any(c.parent == cmd.parent and c.name == "set" and "pipefail" in c.argv for c in script.commands)


@check(
    "CH-DF-048",
    "Download piped without pipefail",
    "low",
    FT,
    description="A RUN pipes the output of curl/wget into another command (`curl -fsSL url | tar -xz`, "
    "`wget -O- key | gpg --dearmor > k`) while neither the script (`set -o pipefail`) nor the SHELL "
    '(`SHELL ["/bin/bash", "-o", "pipefail", "-c"]`) makes a failed download fail the step. Downloads '
    "piped into a shell are reported by CH-DF-014 instead.",
    rationale="""
A pipeline's exit status is that of its last command: when the download fails (DNS, 404, TLS error),
`tar` or `gpg` may still exit 0 on empty or partial input and the build continues with a missing key,
an empty directory or a truncated file, which surfaces later as a broken or insecure image.
""",
    remediation='Start the script with `set -o pipefail &&` (bash, busybox ash) or set `SHELL ["/bin/bash", "-o", '
    '"pipefail", "-c"]` before the RUN; or download to a file and check it before using it.',
    references=(BEST + "#using-pipes",),
    frameworks=Framework(nist_800_190="4.1.2"),
)
def pipe_without_pipefail(doc: Document, options: Options) -> Iterator[Violation]:
    m = _model(doc)
    shells = _shell_of(m)
    for r in _runs(m):
        sh = shells.get(r.ins.index, ("/bin/sh", "-c"))
        if not r.ins.json and any("pipefail" in a for a in sh):
            continue
        for rs in r.ins.scripts:
            script = rs.script
            piped = {id(dl) for dl, _x in _piped_to_interpreter(script)}
            for pl in script.pipelines:
                if pl.length < 2:
                    continue
                members = [script.commands[i] for i in pl.commands]
                dl = next((c for c in members[:-1] if _is_downloader(c)), None)
                if dl is None or id(dl) in piped or _pipefail_set(script, dl):
                    continue
                yield _at_word(
                    r.ins,
                    rs,
                    dl,
                    f"If `{_describe_cmd(dl, 40)}` fails, the pipeline still succeeds when `{members[-1].name}` does.",
                    fix='Prefix the RUN with `set -o pipefail &&` or set `SHELL ["/bin/bash", "-o", "pipefail", '
                    '"-c"]`.',
                )


# compiled by mypyc, these cannot be pickled the default way (customhouse/_native.py)
_native.picklable(_Run, _ImageUse)
