#!/usr/bin/env bash
# Sweep benchmark: the post's four seed configs over 250 seeds each
# (configs/sweeps/post_seeds.json, 1000 runs) with --jobs 1 and --jobs 2.
# Prints wall and CPU seconds, the parallel speed-up, and the time the
# writing process spent writing the database (closing it included) as a
# share of the wall time and its CPU as a share of all the sweep's CPU, and
# checks that both databases hold the same rows.
#
# usage: tools/bench_sweep.sh [BUILD_DIR]   (default: build, a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
spec=configs/sweeps/post_seeds.json
if [[ ! -x $build/dtsim ]]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)" --target dtsim >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A wall cpu write wcpu
for jobs in 1 2; do
    db=$tmp/j$jobs.db
    start=$(date +%s.%N)
    # TIMEFORMAT: CPU seconds of the sweep and all its worker processes.
    out=$( { TIMEFORMAT='%U %S'; time "$build/dtsim" sweep "$spec" --out "$db" --jobs $jobs 2>/dev/null; } 2>&1 )
    end=$(date +%s.%N)
    summary=$(grep '^sweep ' <<<"$out")
    times=$(tail -1 <<<"$out")
    wall[$jobs]=$(echo "$end - $start" | bc -l)
    cpu[$jobs]=$(awk '{print $1 + $2}' <<<"$times")
    write[$jobs]=$(sed -n 's/.*writing the database \([0-9.]*\) s.*/\1/p' <<<"$summary")
    wcpu[$jobs]=$(sed -n 's/.*writing the database [0-9.]* s, CPU \([0-9.]*\) s.*/\1/p' <<<"$summary")
    printf 'jobs %d: %s\n' "$jobs" "$summary"
    printf 'jobs %d: wall %.2f s, CPU %.2f s (all processes); database writing %.2f s wall (%.1f%% of wall), %.2f s CPU (%.1f%% of CPU)\n' \
        "$jobs" "${wall[$jobs]}" "${cpu[$jobs]}" "${write[$jobs]}" \
        "$(echo "100 * ${write[$jobs]} / ${wall[$jobs]}" | bc -l)" \
        "${wcpu[$jobs]}" "$(echo "100 * ${wcpu[$jobs]} / ${cpu[$jobs]}" | bc -l)"
done
printf 'speed-up with 2 jobs: %.2f (target >= 1.8)\n' "$(echo "${wall[1]} / ${wall[2]}" | bc -l)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

q="SELECT sr.idx, r.status, r.sim_seconds, r.total_bytes, r.final_accuracy,
   (SELECT group_concat(test_accuracy || ':' || test_loss, ',') FROM metrics m WHERE m.run_id = r.run_id)
   FROM sweep_runs sr JOIN runs r USING (run_id) ORDER BY sr.idx"
if cmp -s <(sqlite3 "$tmp/j1.db" "$q") <(sqlite3 "$tmp/j2.db" "$q"); then
    echo "rows: identical with --jobs 1 and --jobs 2"
else
    echo "rows: DIFFER between --jobs 1 and --jobs 2" >&2
    exit 1
fi
