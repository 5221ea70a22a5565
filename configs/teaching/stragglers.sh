#!/usr/bin/env bash
# Lesson 4, a straggler: synchronous SGD against asynchronous SGD against
# backup workers, with one of four workers five times slower
# (configs/teaching/stragglers_{ssgd,asgd,backup}.json), over 10 seeds.
#
#   configs/teaching/stragglers.sh [DB]    (default results/lesson-stragglers.db)
#
# Writes results/lesson-stragglers.{png,svg} (test accuracy against simulated
# time and bytes; mean and band over the seeds) and
# results/lesson-stragglers-timeline.{png,svg} (the first 20 simulated ms of
# one run of each, one above the other); prints, per algorithm, the time to 90% test accuracy and what the workers did.
# DTSIM names the binary (default build/dtsim); SEEDS the number of seeds
# (default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/lesson-stragglers.db}
seeds=${SEEDS:-10}
cfgs=(configs/teaching/stragglers_{ssgd,asgd,backup}.json)
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
for s in $(seq 1 "$seeds"); do
    "$dtsim" run "${cfgs[@]}" --seed "$s" --out "$db" --quiet
done
/usr/bin/python3 tools/dtsim_plot.py curves "$db" --x time,bytes --band sd \
    --log on --smooth 1 --out results/lesson-stragglers \
    --title "one of 4 workers 5 times slower, $seeds seeds"
# The timelines: one short run of each, with events, in a database of its
# own so that the curves above stay one experiment per configuration.
tdb=${db%.db}-timeline.db
rm -f "$tdb" "$tdb-wal" "$tdb-shm"
"$dtsim" run "${cfgs[@]}" --out "$tdb" --quiet \
    --set algorithm.rounds=100 --set output.events=true
/usr/bin/python3 tools/dtsim_plot.py timeline "$tdb" --run 1,2,3 \
    --until 0.02 --out results/lesson-stragglers-timeline \
    --title "the first 20 ms of SSGD, ASGD and backup workers (seed 1)"
# Time to 90% test accuracy (first evaluation at or above 0.9), over the
# seeds; and per worker, summed over the runs: updates, share of time idle.
sqlite3 -header -column "$db" "
WITH t90 AS (
  SELECT r.run_id, r.algorithm,
         (SELECT MIN(sim_time) FROM metrics m
           WHERE m.run_id = r.run_id AND m.test_accuracy >= 0.9) AS t
  FROM runs r)
SELECT algorithm, COUNT(t) AS reached, ROUND(AVG(t), 3) AS t90_mean,
       ROUND(MIN(t), 3) AS t90_min, ROUND(MAX(t), 3) AS t90_max,
       (SELECT ROUND(AVG(final_accuracy), 4) FROM runs r
         WHERE r.algorithm = t90.algorithm) AS final_mean,
       (SELECT ROUND(AVG(sim_seconds), 3) FROM runs r
         WHERE r.algorithm = t90.algorithm) AS sim_seconds
FROM t90 GROUP BY algorithm ORDER BY MIN(run_id)"
echo
sqlite3 -header -column "$db" "
SELECT r.algorithm, w.worker, SUM(w.updates) / COUNT(*) AS updates_per_run,
       ROUND(SUM(w.idle_seconds) / SUM(r.sim_seconds), 3) AS idle_share,
       ROUND(AVG(w.mean_staleness), 2) AS mean_staleness,
       MAX(w.max_staleness) AS max_staleness
FROM workers w JOIN runs r USING (run_id)
GROUP BY r.algorithm, w.worker ORDER BY MIN(r.run_id), w.worker"
