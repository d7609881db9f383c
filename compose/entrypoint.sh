#!/bin/sh
# Start one engine role: `fate-entrypoint router|flow|board --config FILE` (or the same after
# `python -m fate`) runs `python -m fate ...`; any other command runs as given.
# `fate-entrypoint healthcheck` asks the role this container runs whether it is healthy;
# the role and config are recorded at start because HEALTHCHECK runs in a separate process.
set -eu
STATE=/tmp/fate-role

if [ "${1:-}" = "healthcheck" ]; then
  [ -r "$STATE" ] || exit 1
  # shellcheck disable=SC2046 # the recorded words are the check's arguments
  exec python -m fate check $(cat "$STATE")
fi

if [ "$#" -ge 3 ] && { [ "$1" = python ] || [ "$1" = python3 ]; } && [ "$2" = -m ] && [ "$3" = fate ]; then
  shift 3
fi

case "${1:-}" in
  router|flow|board)
    prev=""
    for arg in "$@"; do
      if [ "$prev" = "--config" ]; then
        printf '%s --config %s\n' "$1" "$arg" >"$STATE"
      fi
      prev=$arg
    done
    exec python -m fate "$@"
    ;;
  worker|check|--help|-h|"")
    exec python -m fate "$@"
    ;;
esac
exec "$@"
