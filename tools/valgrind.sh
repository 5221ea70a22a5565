#!/usr/bin/env bash
# valgrind.sh: runs the binary end to end under valgrind's memcheck and fails
# on any invalid access, use of uninitialised memory or leak (definite,
# indirect or possible; memory still reachable at exit from the libraries'
# own caches is not a leak). Covers the seed configs (few rounds, so the
# whole script takes a minute or two), check and list, and the error paths
# of bad input, which free memory on paths a good run never takes.
#
#   tools/valgrind.sh           every case
#   ROUNDS=50 tools/valgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-10}

cmake --preset valgrind >/dev/null
cmake --build --preset valgrind -j "$(nproc)" >/dev/null
bin=$PWD/build-valgrind/dtsim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

vg=(valgrind --quiet --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible
    --track-origins=yes --trace-children=no)

failed=0
n=0
# check EXPECTED_EXIT ARGS...: runs dtsim ARGS under valgrind.
check() {
    local want=$1
    shift
    n=$((n + 1))
    local log=$tmp/vg$n.log rc=0
    "${vg[@]}" --log-file="$log" "$bin" "$@" >"$tmp/out$n" 2>&1 || rc=$?
    if [ "$rc" -ne "$want" ] || [ -s "$log" ]; then
        echo "valgrind: FAILED (exit $rc, expected $want): dtsim $*"
        cat "$log" "$tmp/out$n"
        failed=1
    else
        echo "valgrind: ok: dtsim $*"
    fi
}

# Every experiment config the repository ships (not the schema, not sweeps).
while read -r cfg; do
    # A sweep spec kept beside its lesson's configs (it names a "base").
    grep -q '^  "base":' "$cfg" && continue
    check 0 run "$cfg" --out "$tmp/runs.db" --set algorithm.rounds="$rounds" --quiet
done < <(find configs -name '*.json' ! -name schema.json ! -path '*/sweeps/*' | sort)
# Appending to a database that already holds runs.
check 0 run configs/tiny.json --out "$tmp/runs.db" --seed 3 --quiet
check 0 check configs/seed/ssgd.json configs/seed/bmuf.json
check 0 list

# Bad input: every exit path frees what it allocated.
printf '{"algorithm": {"name": "ssgd"}, "data": {"path": "%s/data/breast_cancer.csv"}, "colour": 1}' "$PWD" >"$tmp/unknown.json"
printf '{"algorithm": {"name": "ssgd"},\n "data": {"path": ' >"$tmp/truncated.json"
printf '{"algorithm": {"name": "ssgd"}, "data": {"path": "%s", "header": false}}' "$tmp/bad.csv" >"$tmp/badcsv.json"
printf '1,2,0\n3,4,1\n5,x,0\n' >"$tmp/bad.csv"
printf 'not a database\n' >"$tmp/other.db"
check 2 run "$tmp/unknown.json" --out "$tmp/x.db"
check 2 run "$tmp/truncated.json" --out "$tmp/x.db"
check 2 run "$tmp/badcsv.json" --out "$tmp/x.db"
check 2 run configs/tiny.json --set algorithm.lr=-1 --out "$tmp/x.db"
check 2 run configs/tiny.json "$tmp/unknown.json" --out "$tmp/x.db"
check 1 run configs/tiny.json --out "$tmp/other.db"
check 1 run configs/tiny.json --out "$tmp"
check 2 run --frobnicate
check 2 check /nonexistent/config.json

if [ "$failed" -ne 0 ]; then
    echo "valgrind: errors found"
    exit 1
fi
echo "valgrind: $n runs clean"
