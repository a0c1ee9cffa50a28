"""``gdlab predict``: a run's model on the rows of a file; the job is
:func:`gdlab.lab.run_predict.predict_file`."""

from __future__ import annotations

import argparse
import sys

from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import add_debug_option

NAME = "predict"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="predict with a trained run on the rows of a file",
        description="Load the model of RUN_DIR (written by gdlab train) and predict for every "
                    "row of DATA: a .csv or .parquet table holding the training's feature "
                    "columns (the target column and other columns are ignored), or an .npz "
                    "file with an array X for a run on arrays. Missing cells are filled as in "
                    "training; categories the training never saw encode as all zeros.",
        epilog="The output is CSV: the input rows in order, a column 'prediction' (the class "
               "label, or the value in the target's own units) and, for a classifier, one "
               "column 'proba_<class>' per class. In Python: gdlab.load_model(RUN_DIR).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a finished gdlab train run")
    p.add_argument("data", metavar="DATA", help="the rows to predict for (.csv, .parquet, .npz)")
    p.add_argument("--out", metavar="FILE",
                   help="write the predictions to FILE (CSV; default: standard output)")
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.lab.run_predict import predict_file, write_predictions

    frame, notes = predict_file(args.run_dir, args.data)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    write_predictions(frame, args.out)
    if args.out:
        print(f"wrote {len(frame)} predictions to {args.out}", file=sys.stderr)
    return EXIT_OK
