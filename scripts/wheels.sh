#!/usr/bin/env bash
# Fill a directory with the fatectl wheel and every dependency wheel for the engine image
# (CPython 3.11, glibc Linux), e.g. to carry to a host without PyPI and build there with
#   fatectl images build SPEC --wheels-dir DIR --offline
#   scripts/wheels.sh [DIR]        default DIR: .cache/wheels (what `fatectl images build` uses)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/.cache/wheels}
PYTHON=${PYTHON:-$(command -v python3)}
[ -x "$ROOT/.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ] && PYTHON=$ROOT/.venv/bin/python
exec "$PYTHON" -c 'import sys
from pathlib import Path
from fatectl.docker.wheels import prepare_wheels
house = prepare_wheels(Path(sys.argv[1]))
print(f"{len(house.wheels) + 1} wheels in {house.directory}")' "$DIR"
