"""``gdlab export``: a run's model as an ONNX file; the job is
:func:`gdlab.lab.run_export.export_onnx`."""

from __future__ import annotations

import argparse
import sys

from gdlab.cli.argtypes import positive_int
from gdlab.cli.exits import EXIT_OK, EXIT_USAGE
from gdlab.cli.options import add_debug_option

NAME = "export"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="export a trained run's model (preprocessing included) to ONNX",
        description="Write the model of RUN_DIR (written by gdlab train), its preprocessing "
                    "included, as an ONNX file that onnxruntime and other ONNX runtimes run "
                    "without Python. The file is checked with onnxruntime against gdlab's own "
                    "predictions before it is written. Needs pip install 'gdlab[onnx]'.",
        epilog="Inputs, as skl2onnx names them: one per feature column, named after it, shape "
               "(N, 1), float32 for numbers (missing: NaN) and string for text and booleans "
               "('True'/'False'; missing: empty string); a run on an array has one float32 "
               "input X of shape (N, F). Outputs: output_label and output_probability "
               "(N, classes) for a classifier, variable (N, 1) in the target's units for a "
               "regressor.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder of a finished gdlab train run")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the ONNX file to write (.onnx)")
    p.add_argument("--opset", type=positive_int, metavar="N",
                   help="the ONNX opset to target (default: the newest skl2onnx supports)")
    add_debug_option(p)
    return p


def _describe(signature) -> str:
    return ", ".join(f"{name} ({kind} {' x '.join(map(str, shape))})"
                     for name, kind, shape in signature)


def run(args) -> int:
    from gdlab.lab.run_export import export_onnx

    try:
        done = export_onnx(args.run_dir, args.onnx, opset=args.opset)
    except ImportError as exc:  # the extra is not installed: the message says what to install
        if args.debug:
            raise
        print(f"gdlab {NAME}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {done['path']} (ONNX opset {done['opset']})")
    print(f"inputs:  {_describe(done['inputs'])}")
    print(f"outputs: {_describe(done['outputs'])}")
    print(f"checked with onnxruntime against gdlab's predictions: largest relative difference "
          f"{done['max_rel_diff']:.1e}")
    return EXIT_OK
