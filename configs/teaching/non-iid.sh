#!/usr/bin/env bash
# Lesson 6, non-IID data: model averaging (MA), EASGD, FedAvg and FedProx
# when each worker holds a few digits, against IID shares. Runs the sweep
# configs/teaching/non-iid.json (the README's "Non-IID data"): the 64-32-10
# MLP on the digits, 8 workers, 500 local steps per worker, 5 seeds.
#
#   configs/teaching/non-iid.sh [DB]    (default results/lesson-non-iid.db)
#
# Writes results/lesson-non-iid-labels.{png,svg} (each worker's rows by digit,
# IID and Dirichlet(0.1), seed 1) and results/lesson-non-iid-{iid,dirichlet}.{png,svg}
# (test accuracy against bytes and simulated time, mean and band over the
# seeds), and prints per partition and algorithm the final accuracy, time
# and bytes, and the time and bytes to 85% accuracy.
# DTSIM names the binary (default build/dtsim); SEEDS the number of seeds
# (default: the spec's 5); JOBS the sweep's processes (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/lesson-non-iid.db}
spec=configs/teaching/non-iid.json
if [ -n "${SEEDS:-}" ]; then
    # The same spec with another number of seeds; its base path made
    # absolute, since the copy lives elsewhere.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    /usr/bin/python3 - "$spec" "$SEEDS" >"$tmp/non-iid.json" <<'PY'
import json, os, sys
spec = json.load(open(sys.argv[1]))
spec["base"] = os.path.abspath(os.path.join(os.path.dirname(sys.argv[1]),
                                            spec["base"]))
spec["seeds"] = int(sys.argv[2])
json.dump(spec, sys.stdout, indent=1)
PY
    spec=$tmp/non-iid.json
fi
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
"$dtsim" sweep "$spec" --out "$db" --jobs "${JOBS:-2}" --quiet
plot=(/usr/bin/python3 tools/dtsim_plot.py)
first=$(sqlite3 "$db" "SELECT group_concat(run_id) FROM (SELECT r.run_id
    FROM runs r JOIN sweep_runs USING (run_id)
    WHERE r.seed = 1 AND r.algorithm = 'ma' ORDER BY r.run_id)")
"${plot[@]}" labels "$db" --run "$first" --out results/lesson-non-iid-labels \
    --title "training rows of each worker by digit (seed 1)"
"${plot[@]}" curves "$db" --name "*partition=iid,*" --x bytes,time \
    --log on --band sd --out results/lesson-non-iid-iid \
    --title "IID shares"
"${plot[@]}" curves "$db" --name "*partition=dirichlet0.1,*" --x bytes,time \
    --log on --band sd --out results/lesson-non-iid-dirichlet \
    --title "Dirichlet(0.1) shares"
# Per partition and algorithm, over the seeds: final accuracy, the run's
# time and bytes, and the time and bytes until the test accuracy first
# reaches 0.85 (NULL when a seed never does).
sqlite3 -header -column "$db" "
WITH r AS (
  SELECT r.*, sr.sweep_id, sr.idx,
         (SELECT MIN(sim_time) FROM metrics m
           WHERE m.run_id = r.run_id AND m.test_accuracy >= 0.85) AS t85,
         (SELECT MIN(bytes) FROM metrics m
           WHERE m.run_id = r.run_id AND m.test_accuracy >= 0.85) AS b85
  FROM runs r JOIN sweep_runs sr USING (run_id))
SELECT p.value AS partition, a.value AS alg, COUNT(*) AS runs,
       ROUND(AVG(r.final_accuracy), 4) AS final_mean,
       ROUND(MIN(r.final_accuracy), 4) AS final_min,
       ROUND(MAX(r.final_accuracy), 4) AS final_max,
       ROUND(AVG(r.sim_seconds), 3) AS sim_seconds,
       ROUND(AVG(r.total_bytes) / 1e6, 1) AS MB,
       COUNT(t85) AS reached85, ROUND(AVG(t85), 3) AS t85_s,
       ROUND(AVG(b85) / 1e6, 2) AS MB85
FROM r
JOIN sweep_values p ON p.sweep_id = r.sweep_id AND p.idx = r.idx
     AND p.axis = 'partition'
JOIN sweep_values a ON a.sweep_id = r.sweep_id AND a.idx = r.idx
     AND a.axis = 'alg'
GROUP BY p.value, a.value ORDER BY MIN(r.idx)"
