"""The facts read from a weights file's header (``ModelHeader``), shared by ``_headers`` and its
per-format readers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ModelHeader", "dtype_counts"]


@dataclass(frozen=True)
class ModelHeader:
    """What one or more weights files' headers say. Counts are None when a header was not trusted."""

    format: str
    tensor_count: int | None = None
    parameter_count: int | None = None
    #: ``(dtype, number of tensors)``, sorted by dtype name.
    dtypes: tuple[tuple[str, int], ...] = ()
    architecture: str | None = None
    quantization: str | None = None
    #: What the header claims that the file contradicts (each names the file when combined).
    problems: tuple[str, ...] = field(default_factory=tuple)
    #: Other facts the format records (ONNX producer and opsets, GGUF model name), sorted.
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def trusted(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "tensorCount": self.tensor_count,
            "parameterCount": self.parameter_count,
            "dtypes": dict(self.dtypes),
            "architecture": self.architecture,
            "quantization": self.quantization,
            "problems": list(self.problems),
            **dict(self.extra),
        }


def dtype_counts(names: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """``names`` counted, sorted by name."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return tuple(sorted(counts.items()))
