"""Datasets: the bundled ones, MNIST-like IDX files and generated 2-D ones by name, the user's
tables (CSV, Parquet) and NPZ files, the rules for a table's columns, splits and feature
scaling. Every loader returns a :class:`Dataset`; errors are worded for the person who gave
the file or the name. The preprocessing a model keeps (imputation, one-hot encoding, scaling)
is :mod:`gdlab.data.preprocess`, imported on first use (it needs scikit-learn and pandas).
"""

from gdlab.data.columns import MAX_CLASSES_FROM_WHOLE_NUMBERS, MISSING_MODES
from gdlab.data.datasets import DATASETS, GENERATED, Dataset, infer_task, load_dataset
from gdlab.data.idx import read_idx
from gdlab.data.split import Split, split, standardize
from gdlab.data.toy import ToyData, make_toy

__all__ = ["DATASETS", "GENERATED", "Dataset", "Split", "load_dataset", "infer_task", "split",
           "standardize", "read_idx", "MAX_CLASSES_FROM_WHOLE_NUMBERS", "MISSING_MODES",
           "ToyData", "make_toy"]
