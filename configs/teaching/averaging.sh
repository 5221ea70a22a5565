#!/usr/bin/env bash
# Lesson 2, the post: model averaging (MA) against BMUF's block momentum
# against EASGD, over 20 seeds, twice: with the post's settings
# (configs/seed/, its two quirks on, M = 5) and with the papers' defaults and
# M = 20 local steps (configs/teaching/averaging/).
#
#   configs/teaching/averaging.sh [DB]    (default results/lesson-averaging.db)
#
# Writes results/lesson-averaging-post.{png,svg} and
# results/lesson-averaging-paper.{png,svg}, and prints mean, spread and the
# late-training mean of test accuracy per experiment.
# DTSIM names the binary (default build/dtsim); SEEDS the number of seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
dtsim=${DTSIM:-build/dtsim}
db=${1:-results/lesson-averaging.db}
seeds=${SEEDS:-20}
mkdir -p "$(dirname "$db")"
rm -f "$db" "$db-wal" "$db-shm"
for s in $(seq 1 "$seeds"); do
    "$dtsim" run configs/seed/{ma,bmuf,easgd}.json \
        configs/teaching/averaging/{ma,bmuf,easgd}.json \
        --seed "$s" --out "$db" --quiet
done
plot=(/usr/bin/python3 tools/dtsim_plot.py curves "$db" --band sd)
"${plot[@]}" --name "post-*" --out results/lesson-averaging-post \
    --title "the post's settings (M = 5, its quirks), $seeds seeds"
"${plot[@]}" --name "paper-*" --out results/lesson-averaging-paper \
    --title "the papers' defaults, M = 20 local steps, $seeds seeds"
# Final accuracy is one evaluation on 171 test rows and jumps by whole rows;
# the mean over the last fifth of the rounds is the steadier figure.
sqlite3 -header -column "$db" "
WITH late AS (
  SELECT r.run_id, AVG(m.test_accuracy) AS acc
  FROM runs r JOIN metrics m USING (run_id)
  WHERE m.step > 0.8 * r.steps GROUP BY r.run_id)
SELECT r.name, COUNT(*) AS runs,
       ROUND(AVG(r.final_accuracy), 4) AS final_mean,
       ROUND(SQRT((AVG(r.final_accuracy * r.final_accuracy)
                   - AVG(r.final_accuracy) * AVG(r.final_accuracy))
                  * COUNT(*) / MAX(COUNT(*) - 1, 1)), 4) AS final_sd,
       ROUND(MIN(r.final_accuracy), 4) AS final_min,
       ROUND(AVG(late.acc), 4) AS late_mean,
       ROUND(AVG(r.total_bytes)) AS bytes
FROM runs r JOIN late USING (run_id)
GROUP BY r.name ORDER BY MIN(r.run_id)"
