#!/usr/bin/env bash
# Install (if needed), then run the demo search and say where its report is.
#   bash scripts/demo.sh        # from any directory
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh

OUT="runs/demo"
echo "[demo] DARTS (v1) search on NAS-Bench-201 space, digits, 10 epochs -> $OUT" >&2
.venv/bin/python -m workbench search --space nb201 --method darts-v1 --dataset digits \
    --epochs 10 --seed 0 --out "$OUT"

REPORT="$ROOT/$OUT/report.html"
if [[ ! -f "$REPORT" ]]; then
    echo "[demo] ERROR: the search finished but $REPORT was not written" >&2
    exit 1
fi
echo "[demo] report: $REPORT" >&2
echo "$REPORT"
