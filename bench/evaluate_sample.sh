#!/usr/bin/env bash
# Train every learned player on the demo pack and evaluate all players on its test
# split (the table in docs/machine-players.md). Usage: bench/evaluate_sample.sh [SAMPLE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
sample=${1:-${GEOGAME_SAMPLE_DIR:-../shared/datasets/streetscapes-sample}}
export GEOGAME_DATA_DIR=${GEOGAME_DATA_DIR:-$(mktemp -d)}
py=.venv/bin/python
$py manage.py migrate -v0
$py manage.py import_map "$sample" --name "Streetscapes sample" --no-progress
for player in ensemble transfer hierarchical regression; do
  $py manage.py train_player streetscapes-sample --player "$player" --no-progress
done
for split in val test; do
  $py manage.py evaluate_player streetscapes-sample --split "$split"
done
