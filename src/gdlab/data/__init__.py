"""Datasets: the bundled ones, MNIST-like IDX files and generated 2-D ones by name, the user's
CSV and NPZ files, splits and feature scaling. Every loader returns a :class:`Dataset`; errors
are worded for the person who gave the file or the name.
"""

from gdlab.data.datasets import (
    DATASETS,
    GENERATED,
    MAX_CLASSES_FROM_FLOATS,
    Dataset,
    infer_task,
    load_dataset,
)
from gdlab.data.idx import read_idx
from gdlab.data.split import Split, split, standardize
from gdlab.data.toy import ToyData, make_toy

__all__ = ["DATASETS", "GENERATED", "Dataset", "Split", "load_dataset", "infer_task", "split",
           "standardize", "read_idx", "MAX_CLASSES_FROM_FLOATS", "ToyData", "make_toy"]
