"""Train the sentiment example: TF-IDF features + logistic regression (scikit-learn).

    python train.py                       # reads data/reviews.csv, writes model/
    python train.py --kitfile Kitfile     # also records the metrics in the Kitfile

The trained model is written without pickle: ``model/sentiment.safetensors`` holds the IDF vector,
the coefficients and the intercept (https://github.com/huggingface/safetensors, written by hand
below because the format is a length-prefixed JSON header followed by raw little-endian arrays),
and ``model/vocabulary.json`` the term list. ``predict.py`` serves it with numpy alone. Loading a
pickle from a registry would run code chosen by whoever pushed it; these two files cannot.

Training is deterministic (fixed split seed, lbfgs), so the same data gives the same bytes and
``ocikit pack`` gives the same digests.
"""

from __future__ import annotations

import argparse
import csv
import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
#: Hyperparameters; Kitfile.example records the same values under model.parameters.
NGRAM_RANGE = (1, 2)
MIN_DF = 2
C = 4
TEST_SIZE = 0.25
SEED = 7


def load_reviews(path: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts.append(row["text"])
            labels.append(1 if row["label"] == "positive" else 0)
    return texts, labels


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write float32 tensors in the safetensors layout, keys sorted so the bytes are stable."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def train(data_path: Path, out_dir: Path) -> dict[str, float | int]:
    """Fit the model on ``data_path``, write it to ``out_dir`` and return held-out metrics."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    texts, labels = load_reviews(data_path)
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=TEST_SIZE, random_state=SEED, stratify=labels
    )
    vectorizer = TfidfVectorizer(ngram_range=NGRAM_RANGE, min_df=MIN_DF, sublinear_tf=True)
    features = vectorizer.fit_transform(x_train)
    classifier = LogisticRegression(C=C, max_iter=1000)
    classifier.fit(features, y_train)
    predicted = classifier.predict(vectorizer.transform(x_test))

    out_dir.mkdir(parents=True, exist_ok=True)
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    write_safetensors(
        out_dir / "sentiment.safetensors",
        {"idf": vectorizer.idf_, "coef": classifier.coef_[0], "intercept": classifier.intercept_},
        {"ngram_range": json.dumps(list(NGRAM_RANGE)), "sublinear_tf": "true",
         "labels": json.dumps(["negative", "positive"])},
    )
    (out_dir / "vocabulary.json").write_text(json.dumps(vocabulary, indent=0) + "\n", encoding="utf-8")

    # Self-check: the exported files must reproduce scikit-learn's probabilities.
    sys.path.insert(0, str(HERE))
    from predict import Model

    exported = Model.load(out_dir).predict_proba(x_test)
    expected = classifier.predict_proba(vectorizer.transform(x_test))[:, 1]
    if not np.allclose(exported, expected, atol=1e-4):
        raise SystemExit("exported model does not reproduce scikit-learn's predictions")

    return {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "f1": round(float(f1_score(y_test, predicted)), 4),
        "train_rows": len(x_train),
        "test_rows": len(x_test),
    }


def record_metrics(kitfile: Path, metrics: dict[str, float | int]) -> None:
    """Put ``metrics`` under ``model.parameters.metrics`` of a Kitfile (YAML comments are lost)."""
    import yaml

    data = yaml.safe_load(kitfile.read_text(encoding="utf-8"))
    parameters = data["model"].get("parameters") or {}
    parameters["metrics"] = metrics
    data["model"]["parameters"] = parameters
    kitfile.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "reviews.csv")
    parser.add_argument("--out", type=Path, default=HERE / "model", help="model directory")
    parser.add_argument("--kitfile", type=Path, help="record the metrics in this Kitfile")
    args = parser.parse_args()
    metrics = train(args.data, args.out)
    if args.kitfile is not None:
        record_metrics(args.kitfile, metrics)
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
