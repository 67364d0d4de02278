#!/usr/bin/env bash
# Install (if needed), then run the test suite; extra args go to pytest.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m 'not slow'   # e.g. skip slow tests
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install.sh

# Two workers (pytest-xdist; WORKBENCH_TEST_WORKERS to change, 0 = in this process): every test and notebook
# uses one torch thread, so the 2-core CI machine runs two at once. -rs prints why a test was skipped.
exec .venv/bin/python -m pytest -q -rs -p no:cacheprovider -n "${WORKBENCH_TEST_WORKERS:-2}" --dist worksteal \
    --durations=25 "$@"
