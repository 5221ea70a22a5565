#!/usr/bin/env bash
# Lesson 5, compression: bytes against accuracy. Synchronous SGD of the
# 64-32-10 MLP on the digits, 8 workers on a 10 Mb/s star through one
# parameter server, so every byte costs time: float64, float32, fp16, QSGD
# with s = 255 down to 1 levels, top-k (with error feedback) and random-k,
# each applied to the gradients the workers send (network.compression's
# default direction, "up"), and some also to the models the server sends
# back ("direction": "both").
#
#   configs/teaching/compression.sh [DB]   (default results/lesson-compression.db)
#
# Writes results/lesson-compression.{png,svg} (final accuracy against bytes
# and simulated time, one point per codec) and
# results/lesson-compression-curves.{png,svg} (accuracy against time and
# bytes for a few of them), and prints per codec the bytes of one message,
# the run's time and bytes, and the final accuracy.
# DTSIM names the binary (default build/dtsim); SEEDS the number of seeds
# (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/lesson-compression.db}
seeds=${SEEDS:-3}
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
# name, then the --set that makes it
codecs=(
    "float64|name=float64"
    "float32|network.precision=float32"
    "fp16|network.compression={\"codec\": \"fp16\"}"
    "qsgd s=255|network.compression={\"codec\": \"qsgd\", \"levels\": 255}"
    "qsgd s=63|network.compression={\"codec\": \"qsgd\", \"levels\": 63}"
    "qsgd s=15|network.compression={\"codec\": \"qsgd\", \"levels\": 15}"
    "qsgd s=3|network.compression={\"codec\": \"qsgd\", \"levels\": 3}"
    "qsgd s=1|network.compression={\"codec\": \"qsgd\", \"levels\": 1}"
    "top-k 50%|network.compression={\"codec\": \"topk\", \"fraction\": 0.5}"
    "top-k 10%|network.compression={\"codec\": \"topk\", \"fraction\": 0.1}"
    "top-k 1%|network.compression={\"codec\": \"topk\", \"fraction\": 0.01}"
    "rand-k 50%|network.compression={\"codec\": \"randk\", \"fraction\": 0.5}"
    "rand-k 10%|network.compression={\"codec\": \"randk\", \"fraction\": 0.1}"
    "fp16 both|network.compression={\"codec\": \"fp16\", \"direction\": \"both\"}"
    "qsgd s=63 both|network.compression={\"codec\": \"qsgd\", \"levels\": 63, \"direction\": \"both\"}"
    "qsgd s=15 both|network.compression={\"codec\": \"qsgd\", \"levels\": 15, \"direction\": \"both\"}"
    "top-k 10% both|network.compression={\"codec\": \"topk\", \"fraction\": 0.1, \"direction\": \"both\"}"
    "rand-k 50% both|network.compression={\"codec\": \"randk\", \"fraction\": 0.5, \"direction\": \"both\"}"
)
for c in "${codecs[@]}"; do
    for s in $(seq 1 "$seeds"); do
        "$dtsim" run configs/teaching/compression.json --out "$db" --quiet \
            --seed "$s" --set "${c#*|}" --set "name=${c%%|*}"
    done
done
/usr/bin/python3 tools/dtsim_plot.py tradeoff "$db" \
    --by network.compression.direction --out results/lesson-compression \
    --title "SSGD, 8 workers, 10 Mb/s, 300 rounds, $seeds seeds"
some=$(sqlite3 "$db" "SELECT group_concat(run_id) FROM runs WHERE name IN
    ('float64', 'top-k 1%', 'qsgd s=1', 'qsgd s=63 both', 'qsgd s=15 both',
     'top-k 10% both')")
/usr/bin/python3 tools/dtsim_plot.py curves "$db" --x time,bytes --log on \
    --band sd --runs "$some" --out results/lesson-compression-curves \
    --title "accuracy as the bytes are sent"
sqlite3 -header -column "$db" "
SELECT name, COUNT(*) AS runs,
       MAX(total_bytes) / MAX(total_messages) AS bytes_per_msg,
       ROUND(AVG(sim_seconds), 2) AS sim_seconds,
       ROUND(AVG(total_bytes) / 1e6, 2) AS MB,
       ROUND(AVG(final_accuracy), 4) AS final_mean,
       ROUND(MIN(final_accuracy), 4) AS final_min,
       ROUND(MAX(final_accuracy), 4) AS final_max
FROM runs GROUP BY name ORDER BY MIN(run_id)"
