#!/usr/bin/env bash
# The two quick-start commands:
#   ./dev.sh demo   a working federation lab running the breast-cancer hetero-LR job
#                   (Docker compose lab when a Docker engine answers, local processes otherwise)
#   ./dev.sh test   every test (lint, types, unit, integration, e2e on real Docker)
set -euo pipefail
cd "$(dirname "$0")"
VENV=${FATECTL_VENV:-.venv}
SPEC=${FATECTL_SPEC:-examples/two-party.yaml}
JOB=examples/jobs/breast-hetero-lr.yaml

say() { printf '\n==> %s\n' "$*"; }

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  say "installing fatectl and its test tools into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test,lint]' tox
  export PATH="$PWD/$VENV/bin:$PATH"
}

docker_ready() { docker info >/dev/null 2>&1; }

demo() {
  setup
  fatectl validate "$SPEC"
  if docker_ready; then
    say "Docker answers: building the engine image and starting a compose lab"
    fatectl images build "$SPEC"
    fatectl up compose "$SPEC"
    mode=compose
  else
    say "no Docker engine: starting the embedded local lab (processes on 127.0.0.1)"
    fatectl up local "$SPEC"
    mode=local
  fi
  fatectl status "$SPEC"
  say "uploading each party's own data to its own flow"
  fatectl data upload "$SPEC" --party 9999 --overwrite --name breast_hetero_guest examples/data/breast_hetero_guest.csv
  fatectl data upload "$SPEC" --party 10000 --overwrite --name breast_hetero_host examples/data/breast_hetero_host.csv
  say "running PSI -> hetero LR (Paillier) -> evaluation"
  fatectl job submit "$SPEC" --party 9999 "$JOB" --wait
  say "the lab keeps running; stop it with: fatectl down $mode $SPEC"
}

tests() {
  setup
  if [ "$(id -u)" = 0 ] || [ -n "${CI:-}" ]; then
    bash scripts/ensure-docker.sh
    # docker-registry: a real private registry on 127.0.0.1 for the bundle-load-and-push e2e test;
    # chromium: the board's pages are rendered in a real headless browser (Playwright drives it);
    # postgresql: the flow store's tests start a throwaway cluster of their own (initdb, pg_ctl)
    missing=()
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
      say "installing ${missing[*]} (Debian)"
      # The tests need the server binaries only: no system cluster on port 5432 left running.
      mkdir -p /etc/postgresql-common/createcluster.d
      echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/fatectl-no-main-cluster.conf
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
    export FATECTL_BROWSER=1 FATECTL_POSTGRES=1
  fi
  # checkov pins dependencies of its own that clash with the test tools: it gets a venv of its own.
  if [ ! -x .venv-checkov/bin/checkov ]; then
    say "installing checkov (its own venv) for the chart policy checks"
    python3 -m venv .venv-checkov && .venv-checkov/bin/python -m pip install -q checkov
  fi
  export FATECTL_CHECKOV="$PWD/.venv-checkov/bin/checkov"
  if docker_ready; then
    export FATECTL_E2E=1
    bash compose/base-image.sh
  else
    echo "warning: no Docker engine answers; e2e tests will be skipped (run as root to install one)" >&2
  fi
  tox -e lint,type,py311 -- "$@"
}

case "${1:-}" in
  demo) shift; demo "$@" ;;
  test) shift; tests "$@" ;;
  setup) setup ;;
  *) echo "usage: ./dev.sh demo | test [pytest args]" >&2; exit 2 ;;
esac
