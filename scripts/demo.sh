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
echo
echo "== 4. ask a question with the small in-process model (SmolLM2-135M: fast, often wrong) and let the"
echo "      verifier check its answer and reasoning claim by claim against the passages it was given"
"${VERIRAG[@]}" search "At what speed does Unit 3 trip on overspeed?" --collection demo --top-k 3
echo
"${VERIRAG[@]}" ask "At what speed does Unit 3 trip on overspeed?" --collection demo --model local --show-reasoning

# 5. The web page: the same collection, asked and checked in the browser. Started here only when asked
# (SERVE=1), since a server runs until it is stopped; the embedded collection belongs to one process,
# so the ingests above are done before it starts.
PORT=${PORT:-8000}
URL="http://127.0.0.1:${PORT}/"
echo
if [ "${SERVE:-0}" = "1" ]; then
  echo "== 5. the web page: serving collection 'demo' on loopback, without keys (Ctrl-C stops it)"
  echo "      open ${URL}"
  exec "${VERIRAG[@]}" serve --open --port "$PORT"
fi
echo "== 5. the web page: start the server, then open the page"
echo "      ${VERIRAG[*]} serve --open --port ${PORT}     (or: make demo SERVE=1)"
echo "      open ${URL}"
