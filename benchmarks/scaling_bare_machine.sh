#!/usr/bin/env bash
# B1's thread scaling on a bare machine with many cores, from a checkout, with gdlab not
# installed and nothing to download: builds the C kernels in place with the machine's own
# compiler, then runs bench_scaling.py against the PyTorch and scikit-learn installed there.
#
#   bash benchmarks/scaling_bare_machine.sh                 # 1 2 4 8 16 threads, best of 3
#   THREADS="1 2 4" REPEATS=5 OUT=/tmp/s bash benchmarks/scaling_bare_machine.sh --quick
#
# The table lands in $OUT/scaling.md and the raw numbers in $OUT/scaling.json.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gdlab-scaling}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
echo "cores: $(nproc)"
lscpu | grep -E "^(Model name|Socket|Core|Thread|NUMA node\(s\))" || true
"$PY" -V
if "$PY" setup.py build_ext --inplace >"$OUT/build.log" 2>&1; then
    echo "C kernels built: $(grep -c fopenmp "$OUT/build.log") compile line(s) with -fopenmp"
else
    echo "C kernels not built (see build.log): gdlab runs numba's or NumPy's code"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# shellcheck disable=SC2086
"$PY" benchmarks/bench_scaling.py --only B1 --threads ${THREADS:-1 2 4 8 16} \
    --repeats "${REPEATS:-3}" --rivals gdlab torch sklearn floor \
    --json "$OUT/scaling.json" --markdown "$OUT/scaling.md" "$@"
