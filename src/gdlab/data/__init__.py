"""Datasets: the bundled ones and MNIST-like IDX files by name, the user's CSV and NPZ files,
splits and feature scaling. Every loader returns a :class:`Dataset`; errors are worded for
the person who gave the file or the name.
"""

from gdlab.data.datasets import DATASETS, MAX_CLASSES_FROM_FLOATS, Dataset, infer_task, load_dataset
from gdlab.data.idx import read_idx
from gdlab.data.split import Split, split, standardize

__all__ = ["DATASETS", "Dataset", "Split", "load_dataset", "infer_task", "split", "standardize",
           "read_idx", "MAX_CLASSES_FROM_FLOATS"]
