"""``gdlab landscape``: optimizer paths on a 2-D test function, drawn over its contours."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from gdlab.lab.functions import FUNCTIONS
    from gdlab.lab.minimize import minimize
    from gdlab.lab.runs import fresh_run_dir
    from gdlab.report import plots

    function = FUNCTIONS[args.function]
    start = function.start if args.start is None else args.start
    maximize = bool(args.maximize or function.maximize)
    out = Path(args.out) if args.out else fresh_run_dir(f"landscape-{args.function}")
    out.mkdir(parents=True, exist_ok=True)
    goal = "maximum" if maximize else "minimum"
    print(f"{args.function}: start ({start[0]:g}, {start[1]:g}), lr {args.lr:g}, "
          f"{args.steps} steps, known {goal} {function.minimum:g} at "
          + ", ".join(f"({m[0]:g}, {m[1]:g})" for m in function.minima))
    paths = {}
    for name in args.optimizers:
        result = minimize(function, None, start, optimizer=name, lr=args.lr,
                          max_iter=args.steps, maximize=maximize, tol=1e-8)
        paths[name] = result.path
        x, y = result.x
        note = "" if result.stopped_because in ("max_iter", "tol") else f" ({result.message})"
        print(f"  {name:<9} ended at ({x: .6g}, {y: .6g})  f = {result.fun:.6g}  after "
              f"{result.n_iter} steps{note}")
    fig = plots.plot_landscape(
        function, paths,
        title=f"{len(paths)} optimizer{'s' if len(paths) > 1 else ''} on the {args.function} "
              f"function (lr {args.lr:g}, {args.steps} steps)")
    path = plots.save(fig, out / "landscape.png")
    print(f"wrote {path}")
    return 0
