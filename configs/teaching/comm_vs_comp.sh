#!/usr/bin/env bash
# Lesson 1, computation against communication: parameter-server SSGD as the
# number of workers K grows and the bandwidth shrinks. The global batch stays
# 128 examples (128/K per worker), so more workers mean less computation per
# round but K messages each way through the server's one link.
#
#   configs/teaching/comm_vs_comp.sh [DB]      (default results/lesson-comm.db)
#
# Writes results/lesson-comm.{png,svg}, results/lesson-comm-curves.{png,svg}
# and results/lesson-comm-timeline.{png,svg} (three rounds of K = 8, 1 Gb/s).
# DTSIM names the binary (default build/dtsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/lesson-comm.db}
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
for bw in 10Gbps 1Gbps 100Mbps; do
    for k in 1 2 4 8 16 32; do
        "$dtsim" run configs/teaching/comm_vs_comp.json --out "$db" --quiet \
            --set cluster.workers=$k --set batch.size=$((128 / k)) \
            --set network.bandwidth=$bw --set "name=K=$k, $bw"
    done
done
/usr/bin/python3 tools/dtsim_plot.py scaling "$db" --x cluster.workers \
    --by network.server.bandwidth --out results/lesson-comm \
    --title "SSGD through one parameter server: 200 rounds, 1 MB messages, 1 ms per example"
/usr/bin/python3 tools/dtsim_plot.py curves "$db" --name "*, 1Gbps" \
    --x time,step --smooth 1 --out results/lesson-comm-curves \
    --title "the same 200 rounds at 1 Gbps: equal accuracy per round, not per second"
# Three rounds of K = 8 at 1 Gb/s, with their timeline, in a database of
# their own so that the sweep's plot above stays one run per point.
tdb=${db%.db}-timeline.db
rm -f "$tdb" "$tdb-wal" "$tdb-shm"
"$dtsim" run configs/teaching/comm_vs_comp.json --out "$tdb" --quiet \
    --set cluster.workers=8 --set batch.size=16 --set network.bandwidth=1Gbps \
    --set algorithm.rounds=3 --set output.events=true --set "name=K=8, 1Gbps"
/usr/bin/python3 tools/dtsim_plot.py timeline "$tdb" \
    --out results/lesson-comm-timeline
sqlite3 -header -column "$db" "SELECT name, ROUND(sim_seconds, 2) AS sim_seconds,
    ROUND(final_accuracy, 4) AS accuracy, total_bytes FROM runs ORDER BY run_id"
