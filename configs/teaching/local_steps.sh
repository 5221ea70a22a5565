#!/usr/bin/env bash
# Lesson 3, local steps on a slow WAN: model averaging (MA) with M = 1, 5, 20
# and 50 local steps between averagings, on two regions of four workers
# joined by a WAN (10 ms and 20 Mb/s per cable to the core, so 20 ms from
# region to region). Every run makes 1000 local steps per worker (1000 / M
# rounds), so M trades communication for averaging less often.
#
#   configs/teaching/local_steps.sh [DB]   (default results/lesson-local-steps.db)
#
# Writes results/lesson-local-steps.{png,svg} (test accuracy against
# simulated time and bytes; mean and band over the seeds) and prints, per M,
# time, bytes and final accuracy, and the time and bytes to 95% accuracy.
# DTSIM names the binary (default build/dtsim); SEEDS the number of seeds
# (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/lesson-local-steps.db}
seeds=${SEEDS:-5}
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
for m in 1 5 20 50; do
    for s in $(seq 1 "$seeds"); do
        "$dtsim" run configs/teaching/local_steps.json --out "$db" --quiet \
            --seed "$s" --set algorithm.local_steps=$m \
            --set algorithm.rounds=$((1000 / m)) --set "name=MA M=$m"
    done
done
/usr/bin/python3 tools/dtsim_plot.py curves "$db" --x time,bytes --band sd \
    --smooth 1 --out results/lesson-local-steps \
    --title "MA across a 20 ms, 20 Mb/s WAN: 1000 local steps per worker, $seeds seeds"
# Per M, means over the seeds; t95 and bytes95: the first evaluation at or
# above 95% test accuracy (NULL if a seed never gets there).
sqlite3 -header -column "$db" "
WITH first95 AS (
  SELECT r.run_id,
         (SELECT MIN(sim_time) FROM metrics m
           WHERE m.run_id = r.run_id AND m.test_accuracy >= 0.95) AS t95,
         (SELECT MIN(bytes) FROM metrics m
           WHERE m.run_id = r.run_id AND m.test_accuracy >= 0.95) AS b95
  FROM runs r)
SELECT r.name, COUNT(*) AS runs, MAX(r.steps) AS rounds,
       ROUND(AVG(r.sim_seconds), 2) AS sim_seconds,
       ROUND(AVG(r.total_bytes) / 1e6, 2) AS MB,
       ROUND(AVG(r.final_accuracy), 4) AS final_mean,
       ROUND(MIN(r.final_accuracy), 4) AS final_min,
       COUNT(t95) AS reached95,
       ROUND(AVG(t95), 3) AS t95_s, ROUND(AVG(b95) / 1e6, 3) AS MB95
FROM runs r JOIN first95 USING (run_id)
GROUP BY r.name ORDER BY MIN(r.run_id)"
