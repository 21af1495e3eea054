"""Error types, one per layer of the pipeline, each carrying the exit code the CLI maps it to.

The CLI never guesses an exit code from a message: the layer that knows what went wrong
picks the class, and `cli.py` only reads `exit_code`. Messages are one line and name the
file (or reference) and the reason, because that line is all a CI log shows.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_DATABASE = 4
EXIT_NETWORK = 5
EXIT_INTERNAL = 6


class CustomhouseError(Exception):
    """Base of every error we raise on purpose; anything else is a bug (exit 6)."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        # Multi-line messages break the one-line contract of CONVENTIONS.md; fold them.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(CustomhouseError):
    """Bad flags or arguments: the user can fix the command line."""

    exit_code = EXIT_USAGE


class InputError(CustomhouseError):
    """A target is unreadable or malformed (archive, manifest, layer, SBOM)."""

    exit_code = EXIT_INPUT


class DocumentError(InputError):
    """A file that cannot be read as its type claims; `line` is 1-based (0 when unknown).

    The runner reports it as a warning naming the file and line and scans the rest of the
    tree. Here, not with the YAML reader, so the Dockerfile parser raises it without importing
    PyYAML."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class HostileInputError(InputError):
    """Input that looks crafted to escape or exhaust us (path traversal, bombs, loops).

    Kept apart from `InputError` so callers can tell "broken" from "attacking" in logs,
    while both map to the same exit code.
    """


class LimitExceededError(HostileInputError):
    """A configured resource limit (decompressed size, ratio, entry count) was hit."""


class DatabaseError(CustomhouseError):
    """The vulnerability database is missing, corrupt, too old or of another schema."""

    exit_code = EXIT_DATABASE


class NetworkError(CustomhouseError):
    """Registry or feed trouble: unreachable, auth refused, not found, digest mismatch."""

    exit_code = EXIT_NETWORK


class DigestMismatchError(InputError):
    """A local blob's content does not hash to the digest that names it (exit 3).

    The registry client raises `RegistryDigestMismatchError` instead: there the fault is
    in transit or on the server, which CONVENTIONS.md files under network errors.
    """


class RegistryDigestMismatchError(NetworkError):
    """A blob fetched from a registry does not hash to its digest (exit 5)."""


class InternalError(CustomhouseError):
    """A state we believe impossible; raised instead of asserting so the exit code is right."""

    exit_code = EXIT_INTERNAL
