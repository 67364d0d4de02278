#!/usr/bin/env bash
# Install (if needed), then run the demo search and say where its report is.
#   bash scripts/demo.sh        # from any directory
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh

OUT="runs/demo"
# Ground truth for the summary when the NAS-Bench-201 table is at hand (shared/data beside the project).
TABLE="$ROOT/../shared/data/nb201/nb201_merged.csv.gz"
if [[ -z "${WORKBENCH_NB201_TABLE:-}" && -f "$TABLE" ]]; then
    export WORKBENCH_NB201_TABLE="$TABLE"
fi
echo "[demo] DARTS (v1) search on the NAS-Bench-201 space, digits, 10 epochs, arch lr 3e-3 -> $OUT" >&2
.venv/bin/python -m workbench search --space nb201 --method darts-v1 --dataset digits \
    --epochs 10 --seed 0 --arch-lr 3e-3 --out "$OUT" --overwrite

REPORT="$ROOT/$OUT/report.html"
if [[ ! -f "$REPORT" ]]; then
    echo "[demo] ERROR: the search finished but $REPORT was not written" >&2
    exit 1
fi
echo "[demo] report: $REPORT" >&2
echo "$REPORT"
