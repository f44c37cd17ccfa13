"""The one exception tree of ocikit.

Every error the library raises on purpose derives from :class:`OcikitError`. Each class carries the
process exit code the CLI uses for it and a one-line ``hint`` telling the user what to do next. The
CLI catches only :class:`OcikitError` (one boundary, in ``ocikit.cli``); anything else is a bug and
shows a traceback.

Exit codes are deliberate so scripts can branch on them:

====  ============================================================================
0     success
1     any other ocikit error (bad Kitfile, missing file, local store problem, ...)
2     usage error (unknown option, bad argument); click's default
3     verification failed: digest mismatch, bad or missing signature, hostile archive,
      broken stage history, failed promotion gate, file that does not match the SBOM
4     network: registry unreachable, TLS failure, retries exhausted
5     authentication or authorisation refused by the registry (401/403)
6     not found: the reference, repository, tag or blob does not exist
====  ============================================================================

Tree::

    OcikitError                      exit 1
    ├── UsageError                   exit 2   bad option combination, bad filter, bad expression
    ├── KitfileError                 exit 1   YAML / schema / path problems in a Kitfile
    ├── InvalidReference             exit 2   reference does not follow the docker grammar
    ├── StoreError                   exit 1   local store problems (lock, disk, corrupt index)
    ├── PackError                    exit 1   packing failed (missing path, symlink out of context)
    ├── TargetExistsError            exit 1   unpack/init would overwrite without --overwrite/--force
    ├── KeyFileError                 exit 1   a signing key cannot be read, decrypted or used
    ├── NotFoundError                exit 6   manifest, tag, blob or repository missing
    ├── NotAModelKitError            exit 1   the reference is not a ModelKit
    ├── RegistryError                exit 1   the registry answered with an error
    │   ├── NetworkError             exit 4   connection, TLS, timeouts, retries exhausted
    │   ├── AuthError                exit 5   401 / 403
    │   └── UnsupportedError         exit 1   the registry does not offer the operation (tag delete)
    └── VerificationError            exit 3   something failed a check
        ├── DigestMismatchError      exit 3   bytes do not match their digest or size
        ├── UnsafeArchiveError       exit 3   a layer tries to escape the target or holds links/devices
        ├── SignatureError           exit 3   missing, invalid or foreign signature
        ├── HistoryError             exit 3   a stage history chain is broken
        ├── GateError                exit 3   a promotion gate or policy refused the transition
        └── FileVerificationError    exit 3   unpacked files differ from the SBOM

Messages never contain credentials: registry code redacts before raising.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "DigestMismatchError",
    "FileVerificationError",
    "GateError",
    "HistoryError",
    "InvalidReference",
    "KeyFileError",
    "KitfileError",
    "NetworkError",
    "NotAModelKitError",
    "NotFoundError",
    "OcikitError",
    "PackError",
    "RegistryError",
    "SignatureError",
    "StoreError",
    "TargetExistsError",
    "UnsafeArchiveError",
    "UnsupportedError",
    "UsageError",
    "VerificationError",
]


class OcikitError(Exception):
    """Root of every error ocikit raises on purpose.

    ``str(error)`` is one line saying what went wrong; ``hint`` says what to do about it.
    """

    exit_code: int = 1
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class UsageError(OcikitError):
    exit_code = 2
    default_hint = "see --help for the accepted options"


class KitfileError(OcikitError):
    """A Kitfile could not be read, parsed or validated. The message names file, line and field."""

    default_hint = "fix the Kitfile; the format is described in docs/kitfile.md"


class InvalidReference(OcikitError):
    exit_code = 2
    default_hint = "use [registry/]repository[:tag][@sha256:<64 hex>], e.g. acme/sentiment:1.0.0"


class StoreError(OcikitError):
    default_hint = "run 'ocikit fsck' to check the local store"


class PackError(OcikitError):
    default_hint = "check the paths in the Kitfile and the .kitignore"


class TargetExistsError(OcikitError):
    default_hint = "pass --overwrite to replace or --ignore-existing to keep existing files"


class KeyFileError(OcikitError):
    """A key file is missing, malformed, of an unsupported type, or its password is wrong."""

    default_hint = "use a PEM key from 'ocikit keygen' or 'cosign generate-key-pair' (ECDSA P-256)"


class NotFoundError(OcikitError):
    exit_code = 6
    default_hint = "check the reference with 'ocikit list'"


class NotAModelKitError(OcikitError):
    default_hint = "the reference points to another kind of OCI artifact"


class RegistryError(OcikitError):
    default_hint = "the registry refused the request"


class NetworkError(RegistryError):
    exit_code = 4
    default_hint = "check the registry address; use --plain-http for a plain-HTTP registry"


class AuthError(RegistryError):
    exit_code = 5
    default_hint = "run 'ocikit login <registry>' or check your access to the repository"


class UnsupportedError(RegistryError):
    default_hint = "the registry does not offer this operation; nothing was changed"


class VerificationError(OcikitError):
    exit_code = 3
    default_hint = "do not use this content; it failed verification"


class DigestMismatchError(VerificationError):
    default_hint = ("the content is corrupt or was tampered with; do not use it. From a registry: "
                    "it serves these bytes to everyone, tell its operator. From the local store: "
                    "'ocikit fsck --repair', then pull or pack it again")


class UnsafeArchiveError(VerificationError):
    default_hint = "this layer tries to write outside the target or holds links/devices; refuse it"


class SignatureError(VerificationError):
    default_hint = "the ModelKit is not signed by a trusted key"


class HistoryError(VerificationError):
    default_hint = "the stage history was altered or has a gap"


class GateError(VerificationError):
    default_hint = "the promotion gate or policy refused this transition; nothing was changed"


class FileVerificationError(VerificationError):
    default_hint = "the files on disk differ from what the SBOM records"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        modified: list[dict[str, Any]] | None = None,
        missing: list[str] | None = None,
        extra: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        #: Every differing path, for ``verify-files --json`` (the message shows the first ten).
        #: ``modified`` holds objects: ``path``, ``size``, ``expectedSize``, ``sha256`` and
        #: ``expectedSha256`` (``size``/``sha256`` are None when not measured, e.g. not a regular file).
        self.modified = modified or []
        self.missing = missing or []
        self.extra = extra or []
