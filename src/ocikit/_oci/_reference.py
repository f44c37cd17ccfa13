"""Image references: ``[registry/]repository[:tag][@digest]`` parsed into a frozen value.

Grammar: https://github.com/distribution/reference/blob/main/reference.go. As in KitOps
(``pkg/lib/repo/util/reference.go``), a first path segment without ``.`` or ``:`` (and not
``localhost``) is part of the repository and the registry is ``localhost``, which means "the local
store only". A missing tag and digest means ``latest``. With both a tag and a digest, the digest
pins the content and the tag is kept for display.

Round trip: ``str(Reference.parse(s))`` is the canonical long form, and
``Reference.parse(str(r)) == r`` for every value ``r``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ocikit._io._digest import Digest
from ocikit.errors import InvalidReference

__all__ = ["LOCAL_REGISTRY", "Reference", "split_tags"]

LOCAL_REGISTRY = "localhost"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?$"
)
_MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str, *, default_tag: str | None = "latest") -> Reference:
        if not text or len(text) > 1024:
            raise InvalidReference(f"invalid reference {text!r}: empty or too long")
        if any(c.isspace() for c in text) or "\x00" in text:
            raise InvalidReference(f"invalid reference {text!r}: contains whitespace")
        rest = text
        digest: Digest | None = None
        if "@" in rest:
            rest, _, digest_text = rest.partition("@")
            if not Digest.is_valid(digest_text):
                raise InvalidReference(
                    f"invalid reference {text!r}: digest must be sha256:<64 lowercase hex>"
                )
            digest = Digest.parse(digest_text)
        tag: str | None = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG.match(tag):
                raise InvalidReference(
                    f"invalid tag {tag!r} in {text!r}: use letters, digits, '_', '.', '-' "
                    "(at most 128, not starting with '.' or '-')"
                )
        first, sep, remainder = rest.partition("/")
        if sep and ("." in first or ":" in first or first == LOCAL_REGISTRY or first.startswith("[")):
            registry, repository = first, remainder
            if not _REGISTRY.match(registry):
                raise InvalidReference(f"invalid registry {registry!r} in {text!r}")
        else:
            registry, repository = LOCAL_REGISTRY, rest
        if not repository:
            raise InvalidReference(f"invalid reference {text!r}: no repository")
        if not _REPOSITORY.match(repository):
            hint = " (repository names must be lowercase)" if repository.lower() != repository else ""
            raise InvalidReference(f"invalid repository {repository!r} in {text!r}{hint}")
        if len(repository) > _MAX_NAME:
            raise InvalidReference(f"invalid reference {text!r}: repository longer than 255 characters")
        if tag is None and digest is None:
            tag = default_tag
        return cls(registry, repository, tag, digest)

    @property
    def is_local(self) -> bool:
        """True for ``localhost`` references, which name the local store only."""
        return self.registry == LOCAL_REGISTRY

    @property
    def name(self) -> str:
        """``registry/repository``: the key of a repository."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What to resolve in the repository: the digest if pinned, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        if self.tag is None:
            raise InvalidReference(f"reference {self.name} has neither tag nor digest")
        return self.tag

    def with_tag(self, tag: str | None) -> Reference:
        if tag is not None and not _TAG.match(tag):
            raise InvalidReference(f"invalid tag {tag!r}")
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: Digest) -> Reference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    @property
    def display(self) -> str:
        """Short form for humans: ``localhost/`` dropped, as kit does."""
        text = str(self)
        prefix = LOCAL_REGISTRY + "/"
        return text[len(prefix) :] if text.startswith(prefix) else text


def split_tags(text: str) -> list[Reference]:
    """``reg/repo:a,b,c`` → three references (KitOps' multi-tag syntax for ``-t``)."""
    if "," not in text:
        return [Reference.parse(text)]
    base, _, tag_list = text.rpartition(":")
    if not base or "/" in tag_list:
        raise InvalidReference(f"invalid reference {text!r}: ',' separates tags after the last ':'")
    return [Reference.parse(f"{base}:{t.strip()}") for t in tag_list.split(",") if t.strip()]
