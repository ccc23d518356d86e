#!/usr/bin/env bash
# Builds the three targets of docker/Dockerfile from this checkout without any container registry:
#   1. the base image (Debian bookworm with Python 3.11, made with debootstrap from Debian's mirror and
#      `docker import`), when it is missing;
#   2. a wheelhouse on the host (pip wheel with constraints.txt of the package and its `transformer` extra, from
#      the package registry pip is set up for: CPU torch), when constraints.txt or setup.py changed since it was
#      built;
#   3. the runtime, automl, transformer and serving images, offline (--network none, pip --no-index from the wheelhouse;
#      the classic builder, which needs no frontend image), then prints each image's size.
# Needs an engine that answers: eval "$(scripts/docker_engine.sh start)". Settings (environment):
#   IMAGE, AUTOML_IMAGE, TRANSFORMER_IMAGE, SERVING_IMAGE
#                        tags to build (default emotion-pipeline:dev, emotion-pipeline-automl:dev,
#                        emotion-pipeline-transformer:dev, emotion-pipeline-serving:dev)
#   TARGETS              which of them to build (default "runtime automl transformer serving")
#   PYTHON_IMAGE         base image (default emotion-pipeline-base:bookworm, made here when missing); another
#                        one (e.g. python:3.11.7-slim-bookworm, as in cloudbuild.yaml) must be present or pullable
#   WHEELHOUSE           wheel folder inside the checkout (default build/wheelhouse); empty: pip's index in the
#                        build (then the build needs network)
#   DEBIAN_MIRROR        mirror for debootstrap (default: the first Debian mirror in /etc/apt/sources.list*)
#   PYTHON               interpreter whose pip builds the wheelhouse (default: python on PATH, else python3)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-emotion-pipeline:dev}
AUTOML_IMAGE=${AUTOML_IMAGE:-emotion-pipeline-automl:dev}
TRANSFORMER_IMAGE=${TRANSFORMER_IMAGE:-emotion-pipeline-transformer:dev}
SERVING_IMAGE=${SERVING_IMAGE:-emotion-pipeline-serving:dev}
TARGETS=${TARGETS:-runtime automl transformer serving}
BASE_IMAGE=emotion-pipeline-base:bookworm
# Each target's build stage is tagged STAGE_IMAGE:build-<target>, so that the prune at the end spares it: it holds
# the dependency layers, which the next build then reuses from the cache instead of reinstalling everything.
STAGE_IMAGE=emotion-pipeline-stage
PYTHON_IMAGE=${PYTHON_IMAGE:-${BASE_IMAGE}}
WHEELHOUSE=${WHEELHOUSE-build/wheelhouse}
# setup.py's extras whose wheels the wheelhouse holds too (the transformer image's torch, transformers, weights)
WHEEL_EXTRAS=transformer
DEBIAN_SUITE=bookworm
# Python 3.11 (setup.py), venv, the CA bundle of Debian (not of this machine), OpenMP for LightGBM,
# useradd (passwd) for the images' non-root user.
BASE_PACKAGES=python3,python3-venv,python-is-python3,ca-certificates,libgomp1,passwd

log() { printf '\n==> %s\n' "$*" >&2; }

die() {
  printf 'build_images: error: %s\n' "$*" >&2
  exit 1
}

require_engine() {
  command -v docker >/dev/null 2>&1 || die "no docker client on PATH: eval \"\$(scripts/docker_engine.sh start)\""
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no Docker engine answers${DOCKER_HOST:+ at ${DOCKER_HOST}}: eval \"\$(scripts/docker_engine.sh start)\""
}

# The first Debian mirror apt is set up with (one-line and deb822 formats), else Debian's own.
debian_mirror() {
  local found
  found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^[[:space:]]*(URIs:|deb[[:space:]])/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/ && !n++) print $i }' ||
    true)
  echo "${found:-http://deb.debian.org/debian}"
}

# Debian bookworm as an image: debootstrap into a temporary folder, leave out this machine's resolver and host
# name and apt's caches, and import the tree. Run as root (debootstrap needs it).
make_base() {
  local mirror rootfs start=${SECONDS}
  if docker image inspect "${BASE_IMAGE}" >/dev/null 2>&1; then
    log "base image ${BASE_IMAGE} is present"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "making ${BASE_IMAGE} with debootstrap needs root"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
  rootfs=$(mktemp -d /var/tmp/emotion-pipeline-rootfs.XXXXXX)
  # shellcheck disable=SC2064 # expand now: the folder of this call
  trap "rm -rf '${rootfs}'" EXIT
  log "making ${BASE_IMAGE}: debootstrap ${DEBIAN_SUITE} from ${mirror}"
  debootstrap --variant=minbase --include="${BASE_PACKAGES}" "${DEBIAN_SUITE}" "${rootfs}" "${mirror}" >&2
  rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/* "${rootfs}/etc/resolv.conf" \
    "${rootfs}/etc/hostname"
  tar -C "${rootfs}" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase ${DEBIAN_SUITE} ${BASE_PACKAGES}" - "${BASE_IMAGE}" >/dev/null
  rm -rf "${rootfs}"
  trap - EXIT
  log "made ${BASE_IMAGE} in $((SECONDS - start)) s"
}

python_for_pip() {
  local candidate
  for candidate in ${PYTHON:-python python3}; do
    if command -v "${candidate}" >/dev/null 2>&1 && "${candidate}" -m pip --version >/dev/null 2>&1; then
      echo "${candidate}"
      return 0
    fi
  done
  die "no Python with pip on PATH to build the wheelhouse (set PYTHON)"
}

# Wheels of the whole pinned stack (this package's dependencies and its WHEEL_EXTRAS' ones; setuptools and wheel
# to build it), made on the host so that the image build needs no network. Remade only when constraints.txt or
# setup.py changed, reusing the wheels already there: unchanged wheels keep their bytes, so Docker's layer cache
# still holds.
make_wheelhouse() {
  local python folder=${REPO_ROOT}/${WHEELHOUSE} stamp start=${SECONDS} reuse=()
  python=$(python_for_pip)
  stamp=$(cat "${REPO_ROOT}/constraints.txt" "${REPO_ROOT}/setup.py" | sha256sum | cut -c1-16)
  stamp="${stamp} $("${python}" -c 'import platform; print(platform.python_version())') [${WHEEL_EXTRAS}]"
  if [ -f "${folder}/.stamp" ] && [ "$(cat "${folder}/.stamp")" = "${stamp}" ]; then
    log "wheelhouse ${WHEELHOUSE} is up to date ($(du -sm "${folder}" | cut -f1) MB)"
    return 0
  fi
  log "building the wheelhouse ${WHEELHOUSE} with ${python} (pip wheel -c constraints.txt)"
  rm -rf "${folder}.new"
  mkdir -p "${folder}.new"
  [ ! -d "${folder}" ] || reuse=(--find-links "${folder}")
  "${python}" -m pip wheel -q --disable-pip-version-check -c "${REPO_ROOT}/constraints.txt" "${reuse[@]}" \
    -w "${folder}.new" "${REPO_ROOT}[${WHEEL_EXTRAS}]" "setuptools>=68" wheel >&2
  rm -f "${folder}.new"/emotion_pipeline-*.whl # built from the checkout in the image, not from here
  echo "${stamp}" >"${folder}.new/.stamp"
  rm -rf "${folder}"
  mv "${folder}.new" "${folder}"
  log "wheelhouse: $(find "${folder}" -name '*.whl' | wc -l) wheels, $(du -sm "${folder}" | cut -f1) MB, $((SECONDS - start)) s"
}

# The digest of the packages' code that `emotion-pipeline run --runner docker` compares with its checkout's
# (pipelines/docker_run.py: standard library only, so any Python 3 computes it).
source_digest() {
  local python
  python=$(command -v "${PYTHON:-python3}" || command -v python) || die "no Python 3 on PATH (set PYTHON)"
  "${python}" -c 'import sys; sys.path.insert(0, sys.argv[1]); from pipelines.docker_run import source_digest
print(source_digest())' "${REPO_ROOT}"
}

# docker_build TARGET TAG [OPTION...]: one target of docker/Dockerfile, offline from the wheelhouse when there is one.
docker_build() {
  local target=$1 tag=$2
  shift 2
  local args=(-f "${REPO_ROOT}/docker/Dockerfile" --target "${target}" --build-arg "PYTHON_IMAGE=${PYTHON_IMAGE}"
    -t "${tag}" "$@")
  if [ -n "${WHEELHOUSE}" ]; then
    args+=(--build-arg "WHEELHOUSE=${WHEELHOUSE}" --network none)
  fi
  DOCKER_BUILDKIT=0 docker build "${args[@]}" "${REPO_ROOT}" >&2
}

build_target() {
  local target=$1 tag=$2 start=${SECONDS}
  log "building ${tag} (target ${target}, base ${PYTHON_IMAGE})"
  docker_build "${target}" "${tag}" --build-arg "IMAGE_NAME=${tag%%:*}" --build-arg "IMAGE_TAG=${tag##*:}" \
    --label "emotion-pipeline.source-digest=${DIGEST}"
  # Its build stage, just built: all from the cache, only tagged (STAGE_IMAGE).
  docker_build "build-${target}" "${STAGE_IMAGE}:build-${target}" -q >/dev/null
  log "built ${tag} in $((SECONDS - start)) s"
}

image_size() {
  local bytes
  bytes=$(docker image inspect --format '{{.Size}}' "$1" 2>/dev/null || true)
  if [ -n "${bytes}" ]; then
    echo "$1: $((bytes / 1000000)) MB"
  else
    echo "$1: size unknown"
  fi
}

main() {
  require_engine
  [ "${PYTHON_IMAGE}" != "${BASE_IMAGE}" ] || make_base
  [ -z "${WHEELHOUSE}" ] || make_wheelhouse
  DIGEST=$(source_digest)
  local target tags=()
  for target in ${TARGETS}; do
    case "${target}" in
    runtime) tags+=("${IMAGE}") ;;
    automl) tags+=("${AUTOML_IMAGE}") ;;
    transformer) tags+=("${TRANSFORMER_IMAGE}") ;;
    serving) tags+=("${SERVING_IMAGE}") ;;
    *) die "TARGETS: unknown target ${target} (runtime, automl, transformer, serving)" ;;
    esac
    build_target "${target}" "${tags[-1]}"
  done
  # Each rebuild leaves the previous images of these tags and of the build stages untagged (up to about 12 GB):
  # remove ours only (every stage of docker/Dockerfile carries the label). The current build stages are tagged
  # (STAGE_IMAGE) and stay, with the dependency layers the next build reuses.
  docker image prune -f --filter "label=emotion-pipeline.stage" >&2
  for target in "${tags[@]}"; do
    image_size "${target}"
  done
}

main "$@"
