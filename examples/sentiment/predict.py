"""Serve the sentiment model with numpy alone (no scikit-learn, no pickle).

    python predict.py "The kettle arrived broken."       # after train.py, or after
    ocikit unpack REF -d serve --filter model --filter code && python serve/predict.py "..."

It re-implements what scikit-learn's TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) and
LogisticRegression do at prediction time, from ``model/sentiment.safetensors`` and
``model/vocabulary.json`` written by ``train.py``.
"""

from __future__ import annotations

import json
import re
import struct
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: scikit-learn's default token_pattern.
TOKEN = re.compile(r"(?u)\b\w\w+\b")
#: Refuse absurd headers instead of allocating whatever a file claims.
MAX_HEADER = 1 << 20


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > MAX_HEADER:
            raise ValueError(f"{path}: safetensors header of {length} bytes is too large")
        header = json.loads(f.read(length))
        body = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(info["shape"])
    return tensors, metadata


@dataclass(frozen=True)
class Model:
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    ngram_range: tuple[int, int]

    @classmethod
    def load(cls, directory: Path) -> Model:
        tensors, metadata = read_safetensors(directory / "sentiment.safetensors")
        terms = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        low, high = json.loads(metadata.get("ngram_range", "[1, 1]"))
        return cls({t: i for i, t in enumerate(terms)}, tensors["idf"].astype(np.float64),
                   tensors["coef"].astype(np.float64), float(tensors["intercept"][0]), (low, high))

    def features(self, text: str) -> np.ndarray:
        words = TOKEN.findall(text.lower())
        counts: Counter[str] = Counter()
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            counts.update(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        row = np.zeros(len(self.vocabulary))
        for term, count in counts.items():
            index = self.vocabulary.get(term)
            if index is not None:
                row[index] = (1.0 + np.log(count)) * self.idf[index]  # sublinear tf × idf
        norm = np.linalg.norm(row)
        return row / norm if norm else row

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each text is positive."""
        scores = np.array([self.features(t) @ self.coef for t in texts]) + self.intercept
        return 1.0 / (1.0 + np.exp(-scores))


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit('usage: python predict.py "review text" ...')
    model = Model.load(Path(__file__).resolve().parent / "model")
    for text, p in zip(sys.argv[1:], model.predict_proba(sys.argv[1:]), strict=True):
        print(f"{'positive' if p >= 0.5 else 'negative'}  {p:.3f}  {text}")


if __name__ == "__main__":
    main()
