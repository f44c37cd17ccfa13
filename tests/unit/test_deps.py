"""Python dependency discovery: requirements files, pyproject.toml and lock files."""

from __future__ import annotations

import json

import pytest
from packageurl import PackageURL

from ocikit._kitfile._deps import (
    PythonDependency,
    is_dependency_file,
    merge,
    parse_dependency_file,
    parse_pipfile_lock,
    parse_poetry_lock,
    parse_pyproject,
    parse_requirements,
    parse_uv_lock,
)


def by_name(deps: list[PythonDependency]) -> dict[str, PythonDependency]:
    return {d.name: d for d in deps}


REQUIREMENTS = """\
# a comment line
numpy==1.26.4
scikit-learn>=1.3,<2  # trailing comment
Requests[socks,security]==2.32.3 ; python_version >= "3.8"
torch===2.4.1
pandas==2.*
flask
tokenizers==0.19.1 \\
    --hash=sha256:0000000000000000000000000000000000000000000000000000000000000000
-r other-requirements.txt
-e git+https://example.com/repo.git#egg=local
--index-url https://pypi.example/simple
mypkg @ https://example.com/mypkg-1.0.tar.gz#sha256=abc
not a requirement!!
Zope.Interface==6.0
"""


def test_requirements_pinned_unpinned_extras_markers_comments() -> None:
    deps = by_name(parse_requirements(REQUIREMENTS, "code/requirements.txt"))
    assert deps["numpy"].version == "1.26.4" and deps["numpy"].pinned
    assert deps["torch"].version == "2.4.1"  # === is an exact pin too
    assert deps["scikit-learn"].version is None and deps["scikit-learn"].specifier == "<2,>=1.3"
    assert deps["pandas"].version is None  # a wildcard is not a pin
    assert deps["flask"].version is None and deps["flask"].specifier == ""
    req = deps["requests"]  # name normalised, extras sorted, marker kept
    assert req.version == "2.32.3"
    assert req.extras == ("security", "socks")
    assert req.marker == 'python_version >= "3.8"'
    assert deps["tokenizers"].version == "0.19.1"  # continuation line and --hash option
    assert deps["mypkg"].url == "https://example.com/mypkg-1.0.tar.gz#sha256=abc"
    assert deps["zope-interface"].version == "6.0"
    # options and includes are not packages; an unparseable line is skipped, not fatal
    assert set(deps) == {"numpy", "torch", "scikit-learn", "pandas", "flask", "requests", "tokenizers",
                         "mypkg", "zope-interface"}
    assert all(d.sources == ("code/requirements.txt",) for d in deps.values())


def test_purls_parse_and_carry_the_pinned_version() -> None:
    dep = by_name(parse_requirements("Scikit_Learn==1.5.2\n"))["scikit-learn"]
    purl = PackageURL.from_string(dep.purl)
    assert (purl.type, purl.name, purl.version) == ("pypi", "scikit-learn", "1.5.2")


def test_pyproject_pep621_groups_and_poetry() -> None:
    text = """
[project]
name = "sentiment"
dependencies = ["numpy==1.26.4", "scipy>=1.10"]
[project.optional-dependencies]
serve = ["fastapi==0.110.0"]
[dependency-groups]
dev = ["pytest>=8", {include-group = "serve"}]
[tool.poetry.dependencies]
python = "^3.10"
torch = "2.4.1"
transformers = {version = "^4.40", extras = ["torch"]}
"""
    deps = by_name(parse_pyproject(text))
    assert deps["numpy"].version == "1.26.4"
    assert deps["scipy"].version is None
    assert deps["fastapi"].version == "0.110.0"
    assert deps["pytest"].version is None
    assert deps["torch"].version == "2.4.1"  # poetry: a bare version is an exact pin
    assert deps["transformers"].version is None and deps["transformers"].extras == ("torch",)
    assert "python" not in deps


def test_uv_lock_skips_the_project_itself() -> None:
    text = """
version = 1
[[package]]
name = "sentiment"
version = "0.1.0"
source = { editable = "." }
[[package]]
name = "numpy"
version = "1.26.4"
source = { registry = "https://pypi.org/simple" }
"""
    assert [(d.name, d.version) for d in parse_uv_lock(text)] == [("numpy", "1.26.4")]


def test_poetry_and_pipfile_locks() -> None:
    poetry = '[[package]]\nname = "Torch"\nversion = "2.4.1"\n[[package]]\nname = "idna"\nversion = "3.7"\n'
    assert [(d.name, d.version) for d in parse_poetry_lock(poetry)] == [("torch", "2.4.1"), ("idna", "3.7")]
    pipfile = json.dumps({
        "_meta": {},
        "default": {"requests": {"version": "==2.32.3"}, "mylib": {"git": "https://example.com/x.git"}},
        "develop": {"pytest": {"version": "==8.2.0"}},
    })
    deps = by_name(parse_pipfile_lock(pipfile))
    assert deps["requests"].version == "2.32.3" and deps["pytest"].version == "8.2.0"
    assert deps["mylib"].version is None


def test_dependency_files_are_recognised_by_name() -> None:
    for path in ("code/requirements.txt", "requirements-dev.txt", "x/pyproject.toml", "uv.lock",
                 "a/poetry.lock", "Pipfile.lock"):
        assert is_dependency_file(path), path
    for path in ("code/train.py", "requirements.md", "setup.cfg", "Pipfile"):
        assert not is_dependency_file(path), path


def test_broken_file_yields_nothing_instead_of_failing(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_dependency_file("code/pyproject.toml", "[project\nbroken") == []
    assert parse_dependency_file("code/Pipfile.lock", "{not json") == []
    assert "could not read" in caplog.text


def test_merge_prefers_pins_and_unites_sources() -> None:
    deps = merge([
        *parse_requirements("numpy>=1.20\nrequests==2.32.3\n", "code/requirements.txt"),
        *parse_uv_lock('[[package]]\nname = "numpy"\nversion = "1.26.4"\n'
                       '[[package]]\nname = "requests"\nversion = "2.32.3"\n', "code/uv.lock"),
    ])
    assert [(d.name, d.version) for d in deps] == [("numpy", "1.26.4"), ("requests", "2.32.3")]
    assert by_name(deps)["requests"].sources == ("code/requirements.txt", "code/uv.lock")
