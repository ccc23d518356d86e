#!/usr/bin/env bash
# Local KFP on kind: create the cluster, install KFP standalone, build and load the images, submit a run.
#
#   scripts/kind.sh up       create the cluster (if missing) and install KFP
#   scripts/kind.sh images   build both images and `kind load docker-image` them
#   scripts/kind.sh submit   port-forward the UI, compile (IfNotPresent) and submit one demo run
#   scripts/kind.sh all      the three above (default)
#   scripts/kind.sh down     delete the cluster
#
# Needs docker, kind, kubectl, curl and this package installed (emotion-pipeline on PATH). See docs/kind.md.
set -euo pipefail

# shellcheck source=scripts/kfp_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/kfp_common.sh"

CLUSTER_NAME=${CLUSTER_NAME:-emotion-pipeline}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-} # e.g. kindest/node:v1.31.x; empty: the kind release's default

up() {
  require kind kubectl
  if kind get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
    log "kind cluster ${CLUSTER_NAME} exists"
  else
    log "creating kind cluster ${CLUSTER_NAME}"
    kind create cluster --name "${CLUSTER_NAME}" ${KIND_NODE_IMAGE:+--image "${KIND_NODE_IMAGE}"}
  fi
  kubectl config use-context "kind-${CLUSTER_NAME}"
  install_kfp
}

images() {
  require docker kind
  build_images
  log "loading the images into the kind node(s)"
  kind load docker-image "${IMAGE}" "${AUTOML_IMAGE}" --name "${CLUSTER_NAME}"
}

submit() {
  require kubectl curl emotion-pipeline
  kubectl config use-context "kind-${CLUSTER_NAME}"
  serve_and_submit kind
}

down() {
  require kind
  kind delete cluster --name "${CLUSTER_NAME}"
}

case "${1:-all}" in
  up) up ;;
  images) images ;;
  submit) submit ;;
  all) up && images && submit ;;
  down) down ;;
  *) die "usage: $0 [up|images|submit|all|down]" ;;
esac
