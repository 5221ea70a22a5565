#!/usr/bin/env bash
# Parameter server against ring all-reduce: synchronous SGD on one star
# switch (1 Gb/s, 5 us links, 1 MB messages: header_bytes stands in for a
# real model's size) as the number of workers K grows. Through the server,
# its one link carries K models each way per round, so a round grows as
# 2 K S / B; a ring all-reduce among the workers sends 2 (K - 1) chunks of
# S / K from each, so a round stays near 2 S / B, plus 2 (K - 1) latencies.
# Sharding the model over P = 4 servers divides the server links' load by P.
#
#   configs/teaching/ps-vs-allreduce.sh [DB]   (default results/ps-vs-allreduce.db)
#
# Prints the simulated milliseconds per round for each K and collective.
# DTSIM names the binary (default build/dtsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/ps-vs-allreduce.db}
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
for coll in ps ring ps4; do
    for k in 2 4 8 16 32 64; do
        # ps4: the model sharded over 4 parameter servers
        set -- --set algorithm.collective=${coll%4}
        [ "$coll" = ps4 ] && set -- "$@" --set network.servers=4
        "$dtsim" run configs/teaching/ps-vs-allreduce.json --out "$db" --quiet \
            --set cluster.workers=$k "$@" --set "name=$coll K=$k"
    done
done
sqlite3 -header -column "$db" "SELECT name,
    ROUND(1000 * sim_seconds / steps, 2) AS ms_per_round,
    total_bytes / steps AS bytes_per_round,
    ROUND(final_accuracy, 4) AS accuracy FROM runs ORDER BY run_id"
