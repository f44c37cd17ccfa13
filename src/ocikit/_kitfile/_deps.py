"""Python dependencies declared in a project's files, for the SBOM.

Reads what a code layer ships: ``requirements*.txt`` (pip's requirements-file format,
https://pip.pypa.io/en/stable/reference/requirements-file-format/), ``pyproject.toml``
(PEP 621 ``[project]`` dependencies and optional-dependencies, PEP 735 ``[dependency-groups]``,
Poetry's ``[tool.poetry.*dependencies]``), and the lock files ``uv.lock``, ``poetry.lock`` and
``Pipfile.lock``. Nothing is installed, imported or executed; files are only parsed.

A dependency is *pinned* when it names exactly one version (``==1.2.3``/``===1.2.3`` without a
wildcard, or any lock-file entry); only pinned dependencies get a versioned purl
(``pkg:pypi/<name>@<version>``, https://github.com/package-url/purl-spec, type ``pypi``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "PythonDependency",
    "is_dependency_file",
    "merge",
    "parse_dependency_file",
    "parse_pipfile_lock",
    "parse_poetry_lock",
    "parse_pyproject",
    "parse_requirements",
    "parse_uv_lock",
]

log = logging.getLogger(__name__)

_REQUIREMENTS = re.compile(r"^requirements.*\.(txt|in)$")
_LOCK_NAMES = ("uv.lock", "poetry.lock", "Pipfile.lock")
#: Dependency files are small; anything larger is skipped rather than read whole.
MAX_DEPENDENCY_FILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class PythonDependency:
    """One declared dependency. ``name`` is normalised (PEP 503); ``version`` only when pinned."""

    name: str
    version: str | None
    specifier: str = ""
    extras: tuple[str, ...] = ()
    marker: str | None = None
    url: str | None = None
    sources: tuple[str, ...] = ()  # the files (paths as packed) that declare it

    @property
    def pinned(self) -> bool:
        return self.version is not None

    @property
    def purl(self) -> str:
        from packageurl import PackageURL

        return str(PackageURL(type="pypi", name=self.name, version=self.version))


def is_dependency_file(path: str) -> bool:
    """Whether a packed file (path relative to the context dir) is one we read."""
    name = PurePosixPath(path).name
    return bool(_REQUIREMENTS.match(name)) or name == "pyproject.toml" or name in _LOCK_NAMES


def parse_dependency_file(path: str, text: str) -> list[PythonDependency]:
    """Parse one dependency file by its name. Unparseable files yield no dependencies (logged)."""
    name = PurePosixPath(path).name
    try:
        if name == "pyproject.toml":
            return parse_pyproject(text, path)
        if name == "uv.lock":
            return parse_uv_lock(text, path)
        if name == "poetry.lock":
            return parse_poetry_lock(text, path)
        if name == "Pipfile.lock":
            return parse_pipfile_lock(text, path)
        if _REQUIREMENTS.match(name):
            return parse_requirements(text, path)
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # TOMLDecodeError is a ValueError
        log.warning("could not read Python dependencies from %s: %s", path, e)
        return []
    return []


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _from_requirement(text: str, source: str) -> PythonDependency | None:
    """A PEP 508 requirement string → a dependency (None if it does not parse)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text)
    except InvalidRequirement as e:
        log.warning("%s: skipping %r: %s", source, text, e)
        return None
    version = None
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        version = specs[0].version
    return PythonDependency(
        name=_canonical(req.name),
        version=version,
        specifier=str(req.specifier),
        extras=tuple(sorted(req.extras)),
        marker=str(req.marker) if req.marker is not None else None,
        url=req.url,
        sources=(source,),
    )


def _logical_lines(text: str) -> Iterable[str]:
    """Requirements-file lines with ``\\`` continuations joined and comments removed."""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        # pip: a comment starts at '#' at line start or after whitespace (URLs may contain '#')
        line = re.sub(r"(^|\s+)#.*$", "", line).strip()
        if line:
            yield line
    if pending.strip():
        yield pending.strip()


def parse_requirements(text: str, source: str = "requirements.txt") -> list[PythonDependency]:
    """pip's requirements-file format. Options (``-r``, ``-e``, ``--hash``…) are not followed."""
    out = []
    for line in _logical_lines(text):
        if line.startswith("-"):
            # -r/-c include other files, -e is an editable local path or VCS URL, --index-url etc.
            # are options: none of them names a versioned package we can describe
            log.info("%s: not following option line %r", source, line.split()[0])
            continue
        # per-requirement options (``pkg==1 --hash=sha256:…``) follow the requirement
        requirement = re.split(r"\s+--?[a-zA-Z]", line, maxsplit=1)[0].strip()
        dep = _from_requirement(requirement, source)
        if dep is not None:
            out.append(dep)
    return out


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _poetry_dependency(name: str, spec: Any, source: str) -> PythonDependency | None:
    """Poetry's ``name = "^1.2"`` / ``{version = "1.2.3", extras = […]}`` form."""
    if name.lower() == "python":
        return None
    extras: tuple[str, ...] = ()
    if isinstance(spec, dict):
        extras = tuple(sorted(str(e) for e in spec.get("extras", []) if isinstance(e, str)))
        spec = spec.get("version", "")
    if not isinstance(spec, str):
        spec = ""
    spec = spec.strip()
    # Poetry: a bare version ("1.2.3") or "==1.2.3" is an exact pin; ^, ~, *, ranges are not
    exact = re.fullmatch(r"(?:==)?\s*([0-9][0-9A-Za-z.+!-]*)", spec)
    return PythonDependency(
        name=_canonical(name),
        version=exact.group(1) if exact else None,
        specifier=spec,
        extras=extras,
        sources=(source,),
    )


def parse_pyproject(text: str, source: str = "pyproject.toml") -> list[PythonDependency]:
    data = tomllib.loads(text)
    out: list[PythonDependency | None] = []
    project = _table(data.get("project"))
    for item in project.get("dependencies", []) or []:
        if isinstance(item, str):
            out.append(_from_requirement(item, source))
    for _group, items in sorted(_table(project.get("optional-dependencies")).items()):
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):
                out.append(_from_requirement(item, source))
    for _group, items in sorted(_table(data.get("dependency-groups")).items()):
        for item in items if isinstance(items, list) else []:
            if isinstance(item, str):  # PEP 735 also allows {include-group = …} tables
                out.append(_from_requirement(item, source))
    poetry = _table(_table(data.get("tool")).get("poetry"))
    tables = [_table(poetry.get("dependencies")), _table(poetry.get("dev-dependencies"))]
    tables += [_table(_table(g).get("dependencies")) for g in _table(poetry.get("group")).values()]
    for table in tables:
        for name, spec in sorted(table.items()):
            out.append(_poetry_dependency(name, spec, source))
    return [d for d in out if d is not None]


def _locked(packages: Any, source: str, *, skip_local: bool) -> list[PythonDependency]:
    out = []
    for pkg in packages if isinstance(packages, list) else []:
        if not isinstance(pkg, dict):
            continue
        name, version = pkg.get("name"), pkg.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        src = _table(pkg.get("source"))
        if skip_local and ("editable" in src or "virtual" in src):
            continue  # uv.lock lists the project itself; it is the code layer, not a dependency
        out.append(PythonDependency(_canonical(name), version, f"=={version}", sources=(source,)))
    return out


def parse_uv_lock(text: str, source: str = "uv.lock") -> list[PythonDependency]:
    return _locked(tomllib.loads(text).get("package"), source, skip_local=True)


def parse_poetry_lock(text: str, source: str = "poetry.lock") -> list[PythonDependency]:
    return _locked(tomllib.loads(text).get("package"), source, skip_local=False)


def parse_pipfile_lock(text: str, source: str = "Pipfile.lock") -> list[PythonDependency]:
    data = json.loads(text)
    out: list[PythonDependency | None] = []
    for section in ("default", "develop"):
        for name, entry in sorted(_table(_table(data).get(section)).items()):
            version = _table(entry).get("version")
            if isinstance(version, str):
                out.append(_from_requirement(f"{name}{version}", source))
            else:  # VCS or path entries carry no version
                out.append(PythonDependency(_canonical(name), None, sources=(source,)))
    return [d for d in out if d is not None]


def merge(deps: Iterable[PythonDependency]) -> list[PythonDependency]:
    """One entry per (name, version), sources and extras united; sorted.

    An unpinned declaration of a name is dropped when some file (usually a lock file) pins that
    name: the pin says what was actually resolved.
    """
    by_key: dict[tuple[str, str | None], PythonDependency] = {}
    for dep in deps:
        key = (dep.name, dep.version)
        old = by_key.get(key)
        if old is None:
            by_key[key] = dep
            continue
        by_key[key] = PythonDependency(
            name=dep.name,
            version=dep.version,
            specifier=old.specifier or dep.specifier,
            extras=tuple(sorted(set(old.extras) | set(dep.extras))),
            marker=old.marker if old.marker == dep.marker else None,
            url=old.url or dep.url,
            sources=tuple(sorted(set(old.sources) | set(dep.sources))),
        )
    pinned_names = {name for name, version in by_key if version is not None}
    kept = [d for (name, version), d in by_key.items() if version is not None or name not in pinned_names]
    return sorted(kept, key=lambda d: (d.name, d.version or ""))
