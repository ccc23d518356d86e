#!/usr/bin/env bash
# Shared steps of scripts/kind.sh and scripts/minikube.sh: install KFP standalone, build the images,
# port-forward the UI, compile and submit. Sourced, not run. Every setting can be overridden from the
# environment of the calling script (defaults below).
# Written for and checked with shellcheck; run here with stubs only (no Kubernetes cluster on the build machine;
# the image builds themselves run for real in CI: scripts/build_images.sh).

KFP_VERSION=${KFP_VERSION:-2.17.0} # KFP standalone release (git tag of kubeflow/pipelines); same as the kfp SDK
KFP_NAMESPACE=${KFP_NAMESPACE:-kubeflow}
KFP_PORT=${KFP_PORT:-8080}
KFP_HOST=${KFP_HOST:-http://localhost:${KFP_PORT}}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-900s}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Images by content tag (src-<digest of the code>, pipelines/images.py), as the environment files name them
# ({source_tag}): a rebuild of changed code gets a new tag, so KFP's cache never serves an older build's outputs.
SOURCE_TAG=${SOURCE_TAG:-src-$("${PYTHON:-python3}" -c 'import sys; sys.path.insert(0, sys.argv[1])
from pipelines.docker_run import source_digest; print(source_digest())' "${REPO_ROOT}")}
IMAGE=${IMAGE:-emotion-pipeline:${SOURCE_TAG}}
AUTOML_IMAGE=${AUTOML_IMAGE:-emotion-pipeline-automl:${SOURCE_TAG}}
BUILD_DIR=${BUILD_DIR:-${REPO_ROOT}/build}
MANIFESTS=github.com/kubeflow/pipelines/manifests/kustomize

log() { printf '\n==> %s\n' "$*" >&2; }

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (see docs/kind.md, 'Requirements')"
  done
}

# KFP standalone with the platform-agnostic manifests (no cloud services), then wait until it serves.
install_kfp() {
  log "installing KFP standalone ${KFP_VERSION} (platform-agnostic)"
  kubectl apply -k "${MANIFESTS}/cluster-scoped-resources?ref=${KFP_VERSION}"
  kubectl wait --for condition=established --timeout=60s crd/applications.app.k8s.io
  kubectl apply -k "${MANIFESTS}/env/platform-agnostic?ref=${KFP_VERSION}"
  log "waiting for mysql, metadata-grpc-deployment and ml-pipeline (up to ${WAIT_TIMEOUT}; first pulls are slow)"
  kubectl -n "${KFP_NAMESPACE}" wait --for=condition=available --timeout="${WAIT_TIMEOUT}" \
    deployment/mysql deployment/metadata-grpc-deployment deployment/ml-pipeline deployment/ml-pipeline-ui
}

# Both targets of docker/Dockerfile, tagged as the environment files expect (pipelines/config/env/kind.yaml),
# through scripts/build_images.sh (the same build as CI's: base image, wheelhouse, offline build).
build_images() {
  log "building ${IMAGE} (runtime) and ${AUTOML_IMAGE} (automl) with scripts/build_images.sh"
  IMAGE="${IMAGE}" AUTOML_IMAGE="${AUTOML_IMAGE}" "${REPO_ROOT}/scripts/build_images.sh"
}

# Port-forward the UI (which also proxies the API) in the background; prints the forwarder's pid.
port_forward() {
  local pid tries=0
  log "port-forwarding svc/ml-pipeline-ui to ${KFP_HOST}"
  kubectl -n "${KFP_NAMESPACE}" port-forward svc/ml-pipeline-ui "${KFP_PORT}:80" >"${BUILD_DIR}/port-forward.log" 2>&1 &
  pid=$!
  until curl -fsS "${KFP_HOST}/apis/v2beta1/healthz" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "${tries}" -gt 60 ] || ! kill -0 "${pid}" 2>/dev/null; then
      kill "${pid}" 2>/dev/null || true
      die "KFP API not reachable at ${KFP_HOST}; see ${BUILD_DIR}/port-forward.log"
    fi
    sleep 2
  done
  echo "${pid}"
}

# Compile for the cluster (images never pulled: IfNotPresent) and submit one run on the demo data.
compile_and_submit() {
  local env_name=$1
  local template="${BUILD_DIR}/pipeline-${env_name}.yaml"
  log "compiling ${template} and submitting to ${KFP_HOST}"
  emotion-pipeline compile --env "${env_name}" --image "${IMAGE}" --automl-image "${AUTOML_IMAGE}" \
    --image-pull-policy IfNotPresent --output "${template}"
  emotion-pipeline submit --env "${env_name}" --template "${template}" --kfp-host "${KFP_HOST}" \
    --automl-budget-minutes 1
}

# The whole flow once the cluster exists and the images are loaded into it.
serve_and_submit() {
  local env_name=$1 pid
  mkdir -p "${BUILD_DIR}"
  pid=$(port_forward)
  compile_and_submit "${env_name}"
  log "KFP UI: ${KFP_HOST} (port-forward pid ${pid}; stop it with: kill ${pid})"
}
