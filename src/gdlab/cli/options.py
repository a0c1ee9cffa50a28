"""Option groups that several commands share: the data, the model, the output folder and
``--debug``. Choices and the names listed in the help come from the registries
(:data:`gdlab.data.DATASETS`, :data:`gdlab.nn.layers.ACTIVATIONS`); nothing heavy is imported."""

from __future__ import annotations

from gdlab import _checks
from gdlab.cli.argtypes import activation_name, layer_sizes, non_negative_float, positive_int
from gdlab.data.datasets import DATASETS, GENERATED, TASKS
from gdlab.data.toy import DEFAULT_N_SAMPLES, DEFAULT_NOISE
from gdlab.nn.layers import ACTIVATIONS

#: the ``--dtype`` choices: the float types gdlab computes in
DTYPES = tuple(dt.name for dt in _checks.FLOAT_DTYPES)


def add_data_options(parser) -> None:
    """``--dataset``, ``--target``, ``--data-dir``, ``--task`` and, for the generated datasets,
    ``--n-samples`` and ``--noise``, as a group "data"."""
    g = parser.add_argument_group("data")
    g.add_argument("--dataset", default="digits", metavar="NAME|PATH",
                   help=f"{', '.join(DATASETS)}, or a .csv/.npz file (default: digits, bundled)")
    g.add_argument("--target", metavar="COLUMN",
                   help="the target column of a CSV file (default: the last column)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder holding MNIST-style IDX files or the data file")
    g.add_argument("--task", choices=("auto", *TASKS), default="auto",
                   help="auto (default) treats strings, booleans and integers as classes and "
                        "fractional values as regression, and says which it chose")
    generated = ", ".join(GENERATED)
    g.add_argument("--n-samples", type=positive_int, metavar="N",
                   help=f"points a generated dataset draws ({generated}; default: "
                        f"{DEFAULT_N_SAMPLES}; from --seed)")
    g.add_argument("--noise", type=non_negative_float, metavar="SIGMA",
                   help="standard deviation of the Gaussian noise on a generated dataset's "
                        f"coordinates (default: {DEFAULT_NOISE})")


def add_model_options(parser, *, layers_default, activation_default) -> None:
    """``--layers``, ``--activation`` (checked against the registry) and ``--batchnorm``."""
    parser.add_argument("--layers", type=layer_sizes, default=layers_default, metavar="N,N,...",
                        help=f"hidden layer sizes, e.g. 64,32 (default: "
                             f"{','.join(map(str, layers_default)) or 'none'})")
    add_activation_option(parser, activation_default)
    parser.add_argument("--batchnorm", action="store_true",
                        help="batch normalisation after each hidden Dense layer")


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
