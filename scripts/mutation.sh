#!/usr/bin/env bash
# Mutation testing of the security- and correctness-critical modules (docs/testing.md). Not part of CI.
#   bash scripts/mutation.sh                 every group in pyproject.toml [tool.fatectl.mutation], < 30 min
#   bash scripts/mutation.sh signing policy  some groups;  --fresh drops mutmut's cache, --max-children N (default 2; 1 on a shared machine, with nice -n 19)
# Summary: .mutation/summary.md; survivors' diffs: .mutation/<group>.survivors; logs: .mutation/<group>.log
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FATECTL_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import mutmut' 2>/dev/null || "$VENV/bin/python" -m pip install -q -e '.[test,lint]' 'mutmut>=3.8,<4'
# mutmut is started with the venv's python; the time box of each group is in pyproject.toml
exec "$VENV/bin/python" scripts/mutation.py "$@"
