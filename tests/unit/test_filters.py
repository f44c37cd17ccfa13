"""KitOps --filter grammar (docs/compatibility.md §4.10)."""

from __future__ import annotations

import pytest

from ocikit._kitfile._filters import parse_filters
from ocikit.errors import UsageError


def test_no_filter_is_everything() -> None:
    fs = parse_filters(())
    assert fs.includes_kitfile and fs.matches("datasets", "x", "data")


def test_model_covers_parts() -> None:
    fs = parse_filters(["model"])
    assert fs.matches("model", None, "m") and fs.matches("parts", "p", "m/p")
    assert not fs.matches("datasets", "d", "d") and not fs.includes_kitfile


def test_ids_match_name_or_path_exactly() -> None:
    fs = parse_filters(["model,datasets:validation"])
    assert fs.matches("datasets", "validation", "data/val")
    assert fs.matches("datasets", None, "validation")
    assert not fs.matches("datasets", "train", "data/train")
    assert not fs.matches("datasets", None, "./validation")  # no path cleaning, as kit
    assert not fs.matches("model", "m", "model")  # ids apply to every type in the filter


def test_code_and_docs_match_on_path_only() -> None:
    fs = parse_filters(["code:src"])
    assert fs.matches("code", None, "src") and not fs.matches("code", "src", "lib")


def test_repeated_filters_are_ored() -> None:
    fs = parse_filters(["kitfile", "docs"])
    assert fs.includes_kitfile and fs.matches("docs", None, "README.md") and not fs.matches("code", None, ".")


@pytest.mark.parametrize("bad", ["weights", "model:a:b", "model:", "", "models"])
def test_invalid_filters(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_filters([bad])


def test_parent_filters_keep_only_model() -> None:
    assert str(parse_filters(()).for_parent()) == "model"
    assert parse_filters(["datasets"]).for_parent() is None
    parent = parse_filters(["model,datasets:base", "code"]).for_parent()
    assert parent is not None and str(parent) == "model:base"


def test_ids_apply_to_every_listed_type() -> None:
    fs = parse_filters(["model,datasets:validation"])
    assert fs.matches("datasets", "validation", "d") and fs.matches("model", "validation", "m")
    assert not fs.matches("model", "m", "m") and not fs.matches("datasets", "train", "t")
    combined = parse_filters(["model", "datasets:validation"])
    assert combined.matches("model", "m", "m") and combined.matches("datasets", "validation", "d")
    assert not combined.matches("datasets", "train", "t")
