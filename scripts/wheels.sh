#!/usr/bin/env bash
# Fill a directory with the fatectl wheel and every dependency wheel for the engine image
# (CPython 3.11, glibc Linux), e.g. to build by hand or carry to an air-gapped site:
#   scripts/wheels.sh [DIR]        default DIR: compose/wheels
#   docker build --build-arg BASE_IMAGE=fatectl/base:bookworm -t fate-engine:0.1.0 compose/
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-$ROOT/compose/wheels}
PYTHON=${PYTHON:-$(command -v python3)}
[ -x "$ROOT/.venv/bin/python" ] && [ -z "${VIRTUAL_ENV:-}" ] && PYTHON=$ROOT/.venv/bin/python
exec "$PYTHON" -c 'import sys
from pathlib import Path
from fatectl.wheelhouse import prepare_wheels
house = prepare_wheels(Path(sys.argv[1]))
print(f"{len(house.wheels) + 1} wheels in {house.directory}")' "$DIR"
