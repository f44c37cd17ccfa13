"""The public API is exactly ``ocikit.__all__``, and everything else is visibly private."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import typing
from pathlib import Path
from typing import Any

import pytest

import ocikit
import ocikit.errors

PACKAGE_DIR = Path(ocikit.__file__).resolve().parent
#: Modules that are public by design: the exception tree and the CLI package (console-script
#: entry point ``ocikit.cli:main``). The facade is ``ocikit/__init__.py`` itself.
PUBLIC_MODULES = {"errors", "cli"}


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="ocikit."):
        if not info.name.endswith(".__main__"):  # importing it would run the CLI
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", sorted(ocikit.__all__))
def test_every_listed_name_imports(name: str) -> None:
    value = getattr(ocikit, name)
    assert value is not None
    if typing.get_origin(value) is typing.Literal:
        assert name in ("Compression", "Format") and all(isinstance(v, str) for v in typing.get_args(value))
    elif name not in ("__version__", "errors"):
        # defined in a private module, re-exported by the facade
        module = getattr(value, "__module__", "")
        assert module.startswith("ocikit._"), f"{name} comes from {module}, not a private module"


def test_dir_is_all_and_all_has_no_duplicates() -> None:
    assert len(ocikit.__all__) == len(set(ocikit.__all__))
    assert dir(ocikit) == sorted(ocikit.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'does_not_exist'"):
        _ = ocikit.does_not_exist  # type: ignore[attr-defined]


def test_version_is_a_version_string() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.\-+]\w+)*", ocikit.__version__)


def test_every_module_but_the_facade_and_errors_is_private() -> None:
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        relative = path.relative_to(PACKAGE_DIR).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] in ("__init__", "__main__"):
            parts = parts[:-1]
        if not parts:
            continue  # the facade itself
        if parts[0] in PUBLIC_MODULES:
            parts = parts[1:]  # the package is public; what is inside it is not
        offenders += [str(relative) for part in parts if not part.startswith("_")]
    assert offenders == [], f"modules that should start with '_': {sorted(set(offenders))}"


def test_errors_all_lists_exactly_the_exception_tree() -> None:
    defined = {
        name
        for name, value in vars(ocikit.errors).items()
        if inspect.isclass(value) and issubclass(value, ocikit.errors.OcikitError)
    }
    assert set(ocikit.errors.__all__) == defined
    for name in defined:
        cls = getattr(ocikit.errors, name)
        assert isinstance(cls.exit_code, int) and 1 <= cls.exit_code <= 6, name


# -- nothing public is missing ------------------------------------------------------------------
#
# A user of the API must be able to name every type a public function takes or returns (to
# annotate their own code): those defined in ocikit have to be exported too (or live in
# ocikit.errors). Fields of result values are reached by attribute and need not be exported.

_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _ocikit_classes() -> dict[str, list[type]]:
    """Every class defined in an ocikit module, by name (imports every module)."""
    found: dict[str, list[type]] = {}
    for module_name in _all_modules():
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module_name:
                found.setdefault(name, []).append(value)
    return found


def _annotation_names(annotation: Any) -> set[str]:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return set(_IDENTIFIER.findall(text))


def _surface(value: Any) -> list[tuple[str, set[str]]]:
    """(where, identifiers) for each parameter and return annotation of a public function."""
    out: list[tuple[str, set[str]]] = []
    if inspect.isfunction(value):
        signature = inspect.signature(value)
        for parameter in signature.parameters.values():
            if parameter.annotation is not inspect.Parameter.empty:
                out.append((f"parameter {parameter.name}", _annotation_names(parameter.annotation)))
        if signature.return_annotation is not inspect.Signature.empty:
            out.append(("return value", _annotation_names(signature.return_annotation)))
    return out


def test_types_in_the_public_api_are_exported() -> None:
    classes = _ocikit_classes()
    exported = set(ocikit.__all__) | set(ocikit.errors.__all__)
    missing = []
    for name in ocikit.__all__:
        value = getattr(ocikit, name)
        for where, identifiers in _surface(value):
            for identifier in sorted(identifiers):
                if identifier in classes and identifier not in exported:
                    missing.append(f"ocikit.{name} {where}: {identifier}")
    assert missing == [], "add these to ocikit.__all__ (_EXPORTS):\n" + "\n".join(missing)
