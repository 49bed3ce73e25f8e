#!/bin/bash
# A seed sweep as a Slurm array job: 8 tasks, task i runs shard i of 8.
#   sbatch docs/sweeps/slurm-sweep.sh
# then, when all tasks are done:
#   ./target/release/dsim merge results/sweep-*.json
#SBATCH --job-name=dsim-sweep
#SBATCH --array=1-8
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
#SBATCH --output=results/sweep-%a.log
set -u
mkdir -p results
./target/release/dsim sweep scenarios/catalog/directory_kv/partition.toml \
  --seeds 0..10000 --shard "${SLURM_ARRAY_TASK_ID}/8" --jobs "${SLURM_CPUS_PER_TASK}" --quiet \
  --out "results/sweep-${SLURM_ARRAY_TASK_ID}.json"
# Exit 1 means some seeds failed; the result file is complete either way.
status=$?
[ "$status" -le 1 ] || exit "$status"
