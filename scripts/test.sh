#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: a selection that matches nothing is not a failure of the code.
if [ "$status" -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi
exit "$status"
