#!/usr/bin/env bash
# The main job on the embedded defaults: ingest the sample documents, then ingest them again to
# show that an unchanged document is never parsed, embedded or written twice.
set -euo pipefail
cd "$(dirname "$0")/.."
VERIRAG=(.venv/bin/verirag)
SAMPLES=(samples --exclude README.md --exclude make_samples.py)

echo "== 1. ingest samples/ into the collection 'demo' (embedded Qdrant under ${VERIRAG_DATA_DIR:-./.verirag})"
"${VERIRAG[@]}" ingest "${SAMPLES[@]}" --collection demo --report .verirag/demo-report.json
echo
echo "== 2. the same again: nothing changed, so nothing is written"
"${VERIRAG[@]}" ingest "${SAMPLES[@]}" --collection demo
echo
echo "== 3. what the store holds"
"${VERIRAG[@]}" collections
