"""``gdlab data convert``: a CSV or Parquet table of any size into a dataset folder that
training memory-maps; the job is :func:`gdlab.lab.convert.convert_table`."""

from __future__ import annotations

import argparse
import sys

from gdlab.cli.argtypes import column_list, positive_int
from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import DTYPES, add_debug_option
from gdlab.data.columns import MISSING_MODES
from gdlab.data.datasets import TASKS

NAME = "data"
DEFAULT_CHUNK_SIZE = 10_000  # gdlab.lab.convert.DEFAULT_CHUNK_SIZE, without importing pandas


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="prepare data on disk: convert a table into a dataset folder",
        description="Datasets larger than memory. 'gdlab data convert SOURCE DIR' reads a "
                    ".csv or .parquet table in chunks and writes DIR: X.npy (the rows imputed "
                    "and encoded as a run on the table would), y.npy and dataset.json (the "
                    "column kinds, classes and the preprocessing with its scaling). Train on "
                    "it with 'gdlab train --dataset DIR': X is memory-mapped, never read "
                    "whole, and the run's model predicts on raw columns.")
    commands = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    commands.required = True
    c = commands.add_parser("convert", help="a CSV or Parquet table into a dataset folder",
                            description="Convert the table SOURCE into the dataset folder DIR, "
                                        "--chunk-size rows at a time, in three passes (column "
                                        "kinds and target; fill values; encoded rows and "
                                        "scaling). A bad row is an error naming its line.")
    c.add_argument("source", metavar="SOURCE", help="a .csv (with a header row) or .parquet file")
    c.add_argument("folder", metavar="DIR", help="the dataset folder to write (new or empty)")
    c.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE, metavar="N",
                   help=f"rows read at a time (default: {DEFAULT_CHUNK_SIZE})")
    c.add_argument("--target", metavar="COLUMN", help="the target column (default: the last)")
    c.add_argument("--features", type=column_list, metavar="A,B,...",
                   help="the feature columns (default: every column but the target)")
    c.add_argument("--drop", type=column_list, metavar="A,B,...", help="columns to leave out")
    c.add_argument("--missing", choices=MISSING_MODES, default="impute",
                   help="missing cells: impute (default), drop (the rows) or error")
    c.add_argument("--task", choices=("auto", *TASKS), default="auto",
                   help="auto (default): inferred from the target as gdlab train infers it")
    c.add_argument("--dtype", choices=DTYPES, default=DTYPES[0],
                   help=f"X.npy's floating-point type (default: {DTYPES[0]})")
    c.add_argument("--force", action="store_true", help="overwrite a non-empty DIR")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_debug_option(c)
    p.set_defaults(debug=False)
    return p


def run(args) -> int:
    from gdlab.lab.convert import convert_table

    meta = convert_table(args.source, args.folder, target=args.target, features=args.features,
                         drop=args.drop, missing=args.missing,
                         task=None if args.task == "auto" else args.task,
                         chunk_size=args.chunk_size, dtype=args.dtype,
                         progress=not args.no_progress and sys.stderr.isatty(),
                         force=args.force)
    for note in meta["notes"]:
        print(f"note: {note}", file=sys.stderr)
    kinds = meta["preprocessing"]["columns"]
    n_out = len(meta["feature_names"])
    print(f"wrote '{args.folder}': {meta['n_samples']} rows, {len(kinds)} column"
          f"{'s' if len(kinds) != 1 else ''} -> {n_out} feature{'s' if n_out != 1 else ''}, "
          f"target \"{meta['target']}\": "
          f"{meta['task']} ({meta['task_reason']}); train with gdlab train --dataset "
          f"{args.folder}")
    return EXIT_OK
