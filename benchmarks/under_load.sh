#!/usr/bin/env bash
# B1 (the quick size: 12,800 samples) at 2 threads while another process keeps one core busy,
# as on a shared machine: each rival's warm epoch, best of 3 fresh processes, quiet and loaded.
# Spinning thread pools suffer most when a core is taken away; this shows by how much.
#
#   bash benchmarks/under_load.sh                      # gdlab, torch, sklearn
#   RIVALS=gdlab bash benchmarks/under_load.sh GOMP_SPINCOUNT=10000   # with an environment
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
best() {  # best of 3 warm epochs of rival $1, in fresh processes, with the environment "$@"
    local rival=$1
    shift
    for _ in 1 2 3; do
        env "$@" OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2 \
            "$PY" benchmarks/_worker.py bench_throughput "$rival" --threads 2 --quick 2>/dev/null \
            | "$PY" -c "import json, sys; print(json.loads(sys.stdin.read())['seconds'])"
    done | sort -g | head -1
}
printf "%-8s %10s %10s %8s\n" rival "quiet (s)" "loaded (s)" slower
for rival in ${RIVALS:-gdlab torch sklearn}; do
    quiet=$(best "$rival" "$@")
    "$PY" -c "while True: pass" &
    busy=$!
    sleep 0.5
    loaded=$(best "$rival" "$@")
    kill "$busy"
    wait "$busy" 2>/dev/null
    "$PY" -c "q, l = $quiet, $loaded; print(f'{\"$rival\":<8} {q:10.3f} {l:10.3f} {l / q:7.2f}x')"
done
