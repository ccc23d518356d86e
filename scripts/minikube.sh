#!/usr/bin/env bash
# Local KFP on minikube: start the cluster, install KFP standalone, build and load the images, submit a run.
#
#   scripts/minikube.sh up       start the profile (if stopped) and install KFP
#   scripts/minikube.sh images   build both images and `minikube image load` them
#   scripts/minikube.sh submit   port-forward the UI, compile (IfNotPresent) and submit one demo run
#   scripts/minikube.sh all      the three above (default)
#   scripts/minikube.sh down     delete the profile
#
# Needs docker, minikube, kubectl, curl and this package installed (emotion-pipeline on PATH). See docs/kind.md.
set -euo pipefail

# shellcheck source=scripts/kfp_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/kfp_common.sh"

PROFILE=${PROFILE:-emotion-pipeline}
MINIKUBE_CPUS=${MINIKUBE_CPUS:-4}
MINIKUBE_MEMORY=${MINIKUBE_MEMORY:-8g}

up() {
  require minikube kubectl
  if minikube status -p "${PROFILE}" >/dev/null 2>&1; then
    log "minikube profile ${PROFILE} is running"
  else
    log "starting minikube profile ${PROFILE} (${MINIKUBE_CPUS} CPUs, ${MINIKUBE_MEMORY})"
    minikube start -p "${PROFILE}" --cpus "${MINIKUBE_CPUS}" --memory "${MINIKUBE_MEMORY}"
  fi
  kubectl config use-context "${PROFILE}"
  install_kfp
}

images() {
  require docker minikube
  build_images
  log "loading the images into minikube"
  minikube -p "${PROFILE}" image load "${IMAGE}"
  minikube -p "${PROFILE}" image load "${AUTOML_IMAGE}"
}

submit() {
  require kubectl curl emotion-pipeline
  kubectl config use-context "${PROFILE}"
  serve_and_submit minikube
}

down() {
  require minikube
  minikube delete -p "${PROFILE}"
}

case "${1:-all}" in
  up) up ;;
  images) images ;;
  submit) submit ;;
  all) up && images && submit ;;
  down) down ;;
  *) die "usage: $0 [up|images|submit|all|down]" ;;
esac
