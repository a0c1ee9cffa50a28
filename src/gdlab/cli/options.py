"""Option groups that several commands share: the data, the model, the output folder and
``--debug``. Choices and the names listed in the help come from the registries
(:data:`gdlab.data.DATASETS`, :data:`gdlab.nn.layers.ACTIVATIONS`); nothing heavy is imported."""

from __future__ import annotations

from gdlab import _checks
from gdlab.cli.argtypes import (
    activation_name,
    batch_size,
    column_list,
    layer_sizes,
    non_negative_float,
    optimizer_name,
    positive_float,
    positive_int,
    probability,
)
from gdlab.data.columns import MAX_CLASSES_FROM_WHOLE_NUMBERS, MISSING_MODES
from gdlab.data.datasets import DATASETS, GENERATED, TASKS
from gdlab.data.toy import DEFAULT_N_SAMPLES, DEFAULT_NOISE
from gdlab.nn.init import INITIALIZERS
from gdlab.nn.layers import ACTIVATIONS
from gdlab.optim.registry import OPTIMIZER_NAMES

#: the ``--dtype`` choices: the float types gdlab computes in
DTYPES = tuple(dt.name for dt in _checks.FLOAT_DTYPES)


def add_data_options(parser) -> None:
    """``--dataset``, ``--target``, ``--data-dir``, ``--task`` and, for the generated datasets,
    ``--n-samples`` and ``--noise``, as a group "data"."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                   help=f"{', '.join(DATASETS)}, or a .csv/.parquet table or an .npz file "
                        "(default: digits, bundled)")
    g.add_argument("--target", metavar="COLUMN",
                   help="the target column of a table (default: the last column; the run "
                        "names the column it used)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder holding MNIST-style IDX files or the data file")
    g.add_argument("--task", choices=("auto", *TASKS), default="auto",
                   help="auto (default): text and booleans are classes, whole numbers with at "
                        f"most {MAX_CLASSES_FROM_WHOLE_NUMBERS} distinct values are classes, "
                        "more of them or fractional values are regression; the run says which "
                        "it chose and why")
    generated = ", ".join(GENERATED)
    g.add_argument("--n-samples", type=positive_int, metavar="N",
                   help=f"points a generated dataset draws ({generated}; default: "
                        f"{DEFAULT_N_SAMPLES}; from --seed)")
    g.add_argument("--noise", type=non_negative_float, metavar="SIGMA",
                   help="standard deviation of the Gaussian noise on a generated dataset's "
                        f"coordinates (default: {DEFAULT_NOISE})")


def add_table_options(parser) -> None:
    """``--features``, ``--drop``, ``--missing``, ``--test-size`` and ``--val-size``: which
    columns of a table are used, what missing cells become, and the split."""
    g = parser.add_argument_group("table")
    g.add_argument("--features", type=column_list, metavar="A,B,...",
                   help="the feature columns of a table (default: every column but the target)")
    g.add_argument("--drop", type=column_list, metavar="A,B,...",
                   help="columns of a table to leave out (an identifier, a leak of the target)")
    g.add_argument("--missing", choices=MISSING_MODES, default="impute",
                   help="missing cells (empty, NA, NaN, null, ?): impute (default: the "
                        "training median for numbers, the most frequent value for categories), "
                        "drop (the rows) or error")
    g.add_argument("--test-size", type=probability, default=0.2, metavar="F",
                   help="share of the rows held out for the test metrics (default: 0.2)")
    g.add_argument("--val-size", type=probability, default=0.1, metavar="F",
                   help="share of the rows held out for validation (default: 0.1)")


def add_model_options(parser, *, layers_default, activation_default) -> None:
    """``--layers``, ``--activation`` (checked against the registry) and ``--batchnorm``."""
    parser.add_argument("--layers", type=layer_sizes, default=layers_default, metavar="N,N,...",
                        help=f"hidden layer sizes, e.g. 64,32 (default: "
                             f"{','.join(map(str, layers_default)) or 'none'})")
    add_activation_option(parser, activation_default)
    parser.add_argument("--batchnorm", action="store_true",
                        help="batch normalisation after each hidden Dense layer")


def add_network_options(group) -> None:
    """The network of ``gdlab train`` and ``gdlab lr-find``: ``--layers``, ``--activation``,
    ``--batchnorm``, ``--dropout``, ``--init`` and ``--dtype``."""
    add_model_options(group, layers_default=(64,), activation_default="relu")
    group.add_argument("--dropout", type=probability, default=0.0, metavar="P",
                       help="dropout probability after each hidden activation (default: 0)")
    group.add_argument("--init", metavar="NAME",
                       help=f"weight initialiser: {', '.join(INITIALIZERS)} (default: "
                            "kaiming_uniform for ReLU, xavier_uniform otherwise)")
    add_dtype_option(group)


def add_optimizer_options(group) -> None:
    """How ``gdlab train`` and ``gdlab lr-find`` step: ``--optimizer``, ``--momentum``,
    ``--weight-decay``, ``--alpha``, ``--clip-norm``, ``--clip-value``, ``--batch-size``."""
    group.add_argument("--optimizer", type=optimizer_name, default="adam", metavar="NAME",
                       help=f"{'|'.join(OPTIMIZER_NAMES)} (default: adam)")
    group.add_argument("--momentum", type=non_negative_float, metavar="MU",
                       help="momentum (sgd, momentum, nesterov, rmsprop; momentum/nesterov: 0.9)")
    group.add_argument("--weight-decay", type=non_negative_float, metavar="LAMBDA",
                       help="the optimizer's weight decay (PyTorch's meaning)")
    group.add_argument("--alpha", type=non_negative_float, default=0.0,
                       help="L2 penalty on the weights, scikit-learn's alpha (default: 0)")
    group.add_argument("--clip-norm", type=positive_float, metavar="C",
                       help="rescale each step's gradient to global norm at most C (exploding "
                            "gradients)")
    group.add_argument("--clip-value", type=positive_float, metavar="V",
                       help="clip each gradient element to [-V, V]")
    group.add_argument("--batch-size", type=batch_size, default=32, metavar="full|1|K",
                       help="full = batch gradient descent, 1 = stochastic, K = mini-batches "
                            "(default: 32)")


def add_activation_option(parser, default) -> None:
    """``--activation NAME``, a name of :data:`gdlab.nn.layers.ACTIVATIONS`."""
    parser.add_argument("--activation", type=activation_name, default=default, metavar="NAME",
                        help=f"hidden activation: {', '.join(ACTIVATIONS)} (default: {default})")


def add_dtype_option(parser) -> None:
    parser.add_argument("--dtype", choices=DTYPES, default=DTYPES[0],
                        help=f"floating-point type of the computation (default: {DTYPES[0]})")


def add_out_option(parser) -> None:
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: a fresh one under runs/)")


def add_debug_option(parser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors")


def add_threads_option(parser, *, default, default_text) -> None:
    """``--threads T``: the BLAS/OpenMP (and gdlab kernel) threads of each training; an explicit
    value wins over ``OMP_NUM_THREADS`` and its kin. ``default_text`` says what None means."""
    parser.add_argument("--threads", type=positive_int, default=default, metavar="T",
                        help=f"BLAS and kernel threads per training; an explicit value wins over "
                             f"OMP_NUM_THREADS (default: {default_text})")
