"""The smallest real runs, as command-line flags shared by the tests of several folders."""

from __future__ import annotations

#: ``factornas search`` flags for a one-epoch search on 32 synthetic images.
TINY_SEARCH_FLAGS = [
    "--dataset", "synthetic", "--subset", "32", "--epochs", "1", "--channels", "4",
    "--layers", "3", "--batch-size", "8", "--eval-batches", "1", "--quiet",
]  # fmt: skip
#: ``factornas train`` flags for a one-epoch retraining (the dataset is the caller's).
TINY_TRAIN_FLAGS = [
    "--epochs", "1", "--batch-size", "16", "--channels", "4", "--layers", "3",
    "--subset", "48", "--test-subset", "16", "--quiet",
]  # fmt: skip
