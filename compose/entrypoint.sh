#!/bin/sh
# Start one engine role: `fate-entrypoint router|flow --config FILE` runs `python -m fate ...`.
# `fate-entrypoint healthcheck` asks the role this container runs whether it is healthy;
# the role and config are recorded at start because HEALTHCHECK runs in a separate process.
set -eu
STATE=/tmp/fate-role

if [ "${1:-}" = "healthcheck" ]; then
  [ -r "$STATE" ] || exit 1
  # shellcheck disable=SC2046 # the recorded words are the check's arguments
  exec python -m fate check $(cat "$STATE")
fi

case "${1:-}" in
  router|flow)
    role=$1
    config=""
    prev=""
    for arg in "$@"; do
      [ "$prev" = "--config" ] && config=$arg
      prev=$arg
    done
    if [ -n "$config" ]; then
      printf '%s --config %s\n' "$role" "$config" >"$STATE"
    fi
    ;;
esac
exec python -m fate "$@"
