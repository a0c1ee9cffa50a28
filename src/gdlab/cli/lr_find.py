"""``gdlab lr-find``: the learning-rate range test on the data and model of a ``gdlab train``
command; the job is :func:`gdlab.lab.lr_find.find_lr`."""

from __future__ import annotations

import argparse
from pathlib import Path

from gdlab.cli import train
from gdlab.cli.argtypes import non_negative_int, positive_float, positive_int
from gdlab.cli.exits import EXIT_OK
from gdlab.cli.options import (
    add_data_options,
    add_debug_option,
    add_network_options,
    add_optimizer_options,
    add_table_options,
)
from gdlab.lab.lr_find import CSV_FILE, END_LR, NUM_IT, PLOT_FILE, RULES, START_LR

NAME = "lr-find"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="suggest a learning rate: the range test (Smith 2017, fastai's lr_find)",
        description="The learning-rate range test: train a fresh network of the given data and "
                    "model options (those of gdlab train) for a few mini-batch steps while the "
                    "rate grows exponentially from --start-lr to --end-lr, stop when the "
                    "smoothed loss exceeds 4 times its best, plot the loss against the rate "
                    "(log scale) and suggest a rate. gdlab train --lr auto runs it first.",
        epilog=f"Suggestion rules: valley (default, fastai's: the middle of the longest "
               "stretch over which the smoothed loss keeps falling), steep (the "
               "steepest fall per decade of rate), minimum (the rate of the lowest loss / 10). "
               f"Outputs in --out DIR: {PLOT_FILE} and {CSV_FILE} (rate, loss, smoothed loss "
               "of each step).")
    add_data_options(p)
    add_table_options(p)
    add_network_options(p.add_argument_group("model"))
    add_optimizer_options(p.add_argument_group("optimisation"))
    t = p.add_argument_group("range test")
    t.add_argument("--start-lr", type=positive_float, default=START_LR, metavar="LR",
                   help=f"the first rate (default: {START_LR:g})")
    t.add_argument("--end-lr", type=positive_float, default=END_LR, metavar="LR",
                   help=f"the last rate (default: {END_LR:g})")
    t.add_argument("--num-it", type=positive_int, default=NUM_IT, metavar="N",
                   help=f"steps from the first rate to the last (default: {NUM_IT})")
    t.add_argument("--suggest", choices=RULES, default=RULES[0],
                   help=f"the rule that suggests the rate (default: {RULES[0]})")
    t.add_argument("--seed", type=non_negative_int, default=0, metavar="N",
                   help="seed of the split, the initial weights and the shuffling (default: 0)")
    t.add_argument("--out", metavar="DIR",
                   help="folder for the plot and the CSV (default: a fresh one under runs/)")
    t.add_argument("--quiet", action="store_true", help="print only the suggested rate")
    add_debug_option(p)
    return p


def run(args) -> int:
    from gdlab.lab.lr_find import RULE_TEXT, find_lr, write_lr_find
    from gdlab.lab.run_config import make_config
    from gdlab.lab.run_folder import fresh_run_dir

    # train's configuration keys, those of them that this command's parser has
    config = make_config(**{k: getattr(args, k) for k in train.CONFIG_OPTIONS
                            if hasattr(args, k)})
    found = find_lr(config, start_lr=args.start_lr, end_lr=args.end_lr, num_it=args.num_it,
                    rule=args.suggest)
    out = Path(args.out) if args.out else fresh_run_dir("lr-find")
    write_lr_find(out, found, Path(str(config["dataset"])).name)
    if args.quiet:
        print(f"{found.suggestion:.4g}")
        return EXIT_OK
    ended = ("the smoothed loss blew up" if found.stopped_because == "loss_blew_up"
             else "it reached --end-lr")
    print(f"range test: {len(found.lrs)} steps from {found.lrs[0]:.3g} to {found.lrs[-1]:.3g}; "
          f"it ended because {ended}")
    print(f"suggested learning rate: {found.suggestion:.4g} ({found.rule} rule: "
          f"{RULE_TEXT[found.rule]})")
    print(f"plot: {out / PLOT_FILE}")
    print(f"train with it: gdlab train --lr {found.suggestion:.4g} ... (or --lr auto)")
    return EXIT_OK

