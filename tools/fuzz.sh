#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer harnesses (preset "fuzz": clang, ASan +
# UBSan) and runs each for a bounded time, one after the other.
#
#   tools/fuzz.sh                 every harness for 60 s
#   tools/fuzz.sh 600 csv config  the csv and config harnesses, 600 s each
#   FUZZ_JOBS=2 tools/fuzz.sh     two fuzzing processes per harness
#   FUZZ_RSS_MB=4096 tools/fuzz.sh 600 sweep
#                                 memory limit per process (default 2048 MB)
#
# Inputs found are kept in build-fuzz/corpus/<harness>/ (seeded from
# tests/fuzz/corpus/<harness>/, which stays as committed), crashes in
# build-fuzz/artifacts/<harness>/, logs in build-fuzz/fuzz-<harness>.log.
# Exits 1 when any harness crashed, hung or leaked; prints the number of
# executions of each.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(config units csv split libsvm idx trace sweep)
jobs=${FUZZ_JOBS:-1}

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)" >/dev/null

status=0
root=$PWD
for h in "${harnesses[@]}"; do
    [ -x "build-fuzz/fuzz_$h" ] || { echo "fuzz: no harness $h" >&2; exit 2; }
    log=$root/build-fuzz/fuzz-$h.log
    mkdir -p "build-fuzz/corpus/$h" "build-fuzz/artifacts/$h"
    opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb="${FUZZ_RSS_MB:-2048}"
          -print_final_stats=1 -artifact_prefix="$root/build-fuzz/artifacts/$h/")
    [ -f "tests/fuzz/$h.dict" ] && opts+=(-dict="$root/tests/fuzz/$h.dict")
    [ "$jobs" -gt 1 ] && opts+=(-jobs="$jobs" -workers="$jobs")
    rc=0
    # With -jobs, libFuzzer writes each worker's output to fuzz-<n>.log in
    # the working directory (and echoes it on its own output when the
    # worker ends), hence a directory of its own, thrown away.
    work=$(mktemp -d)
    (cd "$work" && "$root/build-fuzz/fuzz_$h" "${opts[@]}" \
        "$root/build-fuzz/corpus/$h" "$root/tests/fuzz/corpus/$h") >"$log" 2>&1 || rc=$?
    rm -rf "$work"
    execs=$(awk '/stat::number_of_executed_units/ {n += $2} END {print n + 0}' "$log")
    if [ "$rc" -ne 0 ] || grep -qE '^==[0-9]+==ERROR|runtime error|deadly signal' "$log"; then
        echo "fuzz_$h: FAILED after $execs executions (exit $rc): see $log"
        status=1
    else
        echo "fuzz_$h: ok, $execs executions in ${seconds}s x $jobs"
    fi
done
exit $status
