#!/usr/bin/env bash
# Install (if needed), then run the test suite; extra args go to pytest.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m 'not slow'   # e.g. skip slow tests
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh

exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
