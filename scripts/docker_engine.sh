#!/usr/bin/env bash
# A Docker engine for the image builds and the containerised runs (scripts/build_images.sh,
# `emotion-pipeline run --runner docker`, tests/containers).
#
#   eval "$(scripts/docker_engine.sh start)"   # prints: export DOCKER_HOST=unix://...
#   scripts/docker_engine.sh status            # says which engine answers, if any
#   scripts/docker_engine.sh stop              # stops the engine this script started, and only that one
#
# An engine that already answers (DOCKER_HOST, then this script's own socket, then the default socket) is used
# as it is. Otherwise, as root, Debian's docker.io is installed if missing and its dockerd started in the
# background with its own data-root (images and layers, outside the checkout), exec-root, socket and pidfile,
# without a bridge or iptables rules: builds and steps need no network (scripts/build_images.sh builds offline).
# Only the export line goes to stdout; log lines go to stderr.
set -euo pipefail

ENGINE_DATA=${ENGINE_DATA:-/var/lib/emotion-pipeline-docker} # --data-root: images, layers, build cache
ENGINE_RUN=${ENGINE_RUN:-/run/emotion-pipeline-docker}      # --exec-root, the socket and the pidfile
ENGINE_TIMEOUT=${ENGINE_TIMEOUT:-120}                       # seconds to wait for a started engine to answer
SOCKET=${ENGINE_RUN}/docker.sock
PIDFILE=${ENGINE_RUN}/dockerd.pid
LOG=${ENGINE_DATA}/dockerd.log
DEFAULT_SOCKET=/var/run/docker.sock

log() { printf 'docker_engine: %s\n' "$*" >&2; }

die() {
  printf 'docker_engine: error: %s\n' "$*" >&2
  exit 1
}

# True when a Docker engine answers at the given DOCKER_HOST (empty: the client's default).
answers() {
  command -v docker >/dev/null 2>&1 || return 1
  if [ -n "$1" ]; then
    DOCKER_HOST=$1 timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
  else
    env -u DOCKER_HOST timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
  fi
}

# The DOCKER_HOST of an engine that answers now, or nothing.
answering_host() {
  if [ -n "${DOCKER_HOST:-}" ] && answers "${DOCKER_HOST}"; then
    echo "${DOCKER_HOST}"
  elif [ -S "${SOCKET}" ] && answers "unix://${SOCKET}"; then
    echo "unix://${SOCKET}"
  elif [ -z "${DOCKER_HOST:-}" ] && [ -S "${DEFAULT_SOCKET}" ] && answers "unix://${DEFAULT_SOCKET}"; then
    echo "unix://${DEFAULT_SOCKET}"
  fi
}

# The pid of the dockerd this script started, if it still runs.
own_pid() {
  local pid
  [ -f "${PIDFILE}" ] || return 1
  pid=$(cat "${PIDFILE}")
  [ -n "${pid}" ] && [ "$(cat "/proc/${pid}/comm" 2>/dev/null)" = dockerd ] && echo "${pid}"
}

install_engine() {
  command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "dockerd not found and no apt-get to install it: install Docker"
  log "installing Debian's docker.io (dockerd, containerd, runc, docker client)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

start() {
  local host pid waited=0
  host=$(answering_host)
  if [ -n "${host}" ]; then
    log "using the engine that answers at ${host}"
    echo "export DOCKER_HOST=${host}"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and starting one needs root (or set DOCKER_HOST)"
  install_engine
  if pid=$(own_pid); then
    die "dockerd ${pid} (pidfile ${PIDFILE}) runs but does not answer at unix://${SOCKET}; see ${LOG}"
  fi
  rm -f "${PIDFILE}" "${SOCKET}"
  mkdir -p "${ENGINE_DATA}" "${ENGINE_RUN}/exec"
  log "starting dockerd: data-root ${ENGINE_DATA}/data, socket unix://${SOCKET}, log ${LOG}"
  dockerd --data-root "${ENGINE_DATA}/data" --exec-root "${ENGINE_RUN}/exec" -H "unix://${SOCKET}" \
    --pidfile "${PIDFILE}" --bridge=none --iptables=false </dev/null >>"${LOG}" 2>&1 &
  pid=$!
  until answers "unix://${SOCKET}"; do
    if ! kill -0 "${pid}" 2>/dev/null; then
      tail -n 20 "${LOG}" >&2
      die "dockerd exited while starting; its log: ${LOG}"
    fi
    waited=$((waited + 1))
    [ "${waited}" -le "${ENGINE_TIMEOUT}" ] || die "dockerd did not answer in ${ENGINE_TIMEOUT} s; its log: ${LOG}"
    sleep 1
  done
  log "dockerd ${pid} answers after ${waited} s"
  echo "export DOCKER_HOST=unix://${SOCKET}"
}

stop() {
  local pid waited=0
  if ! pid=$(own_pid); then
    log "no dockerd started by this script runs (pidfile ${PIDFILE}); nothing stopped"
    return 0
  fi
  log "stopping dockerd ${pid}"
  kill -TERM "${pid}"
  while kill -0 "${pid}" 2>/dev/null; do
    waited=$((waited + 1))
    [ "${waited}" -le 60 ] || die "dockerd ${pid} still runs after 60 s"
    sleep 1
  done
  rm -f "${PIDFILE}"
  log "dockerd ${pid} stopped (images stay in ${ENGINE_DATA}/data)"
}

status() {
  local host
  host=$(answering_host)
  if [ -n "${host}" ]; then
    echo "engine answers at ${host}"
  else
    echo "no Docker engine answers (start one: eval \"\$(scripts/docker_engine.sh start)\")"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
