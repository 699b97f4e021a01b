#!/usr/bin/env bash
# Regenerates everything derived from the API types in api/v1beta1 and
# api/v1beta2: deepcopy functions and CRD manifests (controller-gen), and the
# typed clientset, listers and informers (k8s.io/code-generator).
#
# It runs the generators directly instead of kube_codegen.sh because that
# script cannot be `go install`ed and reaches for the network; it passes
# --output-dir/--output-pkg and an absolute --input-base so the result does
# not depend on where the checkout lives or on GOPATH. Every output tree is
# removed first so a type that was deleted does not leave files behind; two
# runs in a row give byte-identical files (`make verify-generate` checks).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${ROOT}"

MODULE="$(go list -m)"
BOILERPLATE="${ROOT}/hack/boilerplate.go.txt"
CRD_DIR="charts/herald/crds"
CLIENT_DIR="api/client"
CLIENT_PKG="${MODULE}/${CLIENT_DIR}"
# The API packages, relative to ROOT. client-gen reads a package path as
# <group-dir>/<version>; the group's real name comes from +groupName in doc.go.
API_VERSIONS=(api/v1beta1 api/v1beta2)

# Pinned versions (the Makefile installs these into bin/tools). A different
# generator version writes different headers and code, so refuse it rather
# than produce a diff that looks like a real change.
CONTROLLER_GEN_VERSION="v0.23.0"
CODE_GENERATOR_VERSION="v0.37.2"

# Prefer the tools `make tools` installed; fall back to PATH.
tool() {
  if [ -x "${ROOT}/bin/tools/$1" ]; then
    echo "${ROOT}/bin/tools/$1"
  elif command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  else
    echo "hack/generate.sh: $1 not found; run 'make tools'" >&2
    exit 1
  fi
}
CONTROLLER_GEN="$(tool controller-gen)"
CLIENT_GEN="$(tool client-gen)"
LISTER_GEN="$(tool lister-gen)"
INFORMER_GEN="$(tool informer-gen)"

got="$("${CONTROLLER_GEN}" --version | awk '{print $2}')"
if [ "${got}" != "${CONTROLLER_GEN_VERSION}" ]; then
  echo "hack/generate.sh: ${CONTROLLER_GEN} is ${got}, want ${CONTROLLER_GEN_VERSION}; run 'make tools'" >&2
  exit 1
fi
# code-generator binaries carry their module version in the build info.
for bin in "${CLIENT_GEN}" "${LISTER_GEN}" "${INFORMER_GEN}"; do
  got="$(go version -m "${bin}" | awk '$1 == "mod" {print $3}')"
  if [ "${got}" != "${CODE_GENERATOR_VERSION}" ]; then
    echo "hack/generate.sh: ${bin} is from code-generator ${got}, want ${CODE_GENERATOR_VERSION}; run 'make tools'" >&2
    exit 1
  fi
done

# Deterministic environment: the generators sort their output, but keep the
# locale from leaking in anyway.
export LC_ALL=C

echo "controller-gen: deepcopy"
"${CONTROLLER_GEN}" object:headerFile="${BOILERPLATE}" \
  paths=./api/v1beta1/... paths=./api/v1beta2/...

echo "controller-gen: CRDs -> ${CRD_DIR}"
rm -f "${CRD_DIR}"/metallb.io_*.yaml
"${CONTROLLER_GEN}" crd \
  paths=./api/v1beta1/... paths=./api/v1beta2/... \
  output:crd:artifacts:config="${CRD_DIR}"

# The clientset, listers and informers are removed whole and rebuilt.
rm -rf "${CLIENT_DIR}/clientset" "${CLIENT_DIR}/listers" "${CLIENT_DIR}/informers"

# Plurals the generators would otherwise guess differently from the CRDs'
# resource names (controller-gen pluralizes "Status" as "statuses").
PLURALS="ServiceL2Status:ServiceL2Statuses,ServiceBGPStatus:ServiceBGPStatuses"

inputs=()
for v in "${API_VERSIONS[@]}"; do inputs+=(--input "${v}"); done
pkgs=()
for v in "${API_VERSIONS[@]}"; do pkgs+=("${MODULE}/${v}"); done

echo "client-gen -> ${CLIENT_DIR}/clientset/versioned"
"${CLIENT_GEN}" \
  --go-header-file "${BOILERPLATE}" \
  --output-dir "${ROOT}/${CLIENT_DIR}/clientset" \
  --output-pkg "${CLIENT_PKG}/clientset" \
  --clientset-name versioned \
  --input-base "${ROOT}" \
  --plural-exceptions "${PLURALS}" \
  "${inputs[@]}"

echo "lister-gen -> ${CLIENT_DIR}/listers"
"${LISTER_GEN}" \
  --go-header-file "${BOILERPLATE}" \
  --output-dir "${ROOT}/${CLIENT_DIR}/listers" \
  --output-pkg "${CLIENT_PKG}/listers" \
  --plural-exceptions "${PLURALS}" \
  "${pkgs[@]}"

echo "informer-gen -> ${CLIENT_DIR}/informers/externalversions"
"${INFORMER_GEN}" \
  --go-header-file "${BOILERPLATE}" \
  --output-dir "${ROOT}/${CLIENT_DIR}/informers" \
  --output-pkg "${CLIENT_PKG}/informers" \
  --versioned-clientset-package "${CLIENT_PKG}/clientset/versioned" \
  --listers-package "${CLIENT_PKG}/listers" \
  --plural-exceptions "${PLURALS}" \
  "${pkgs[@]}"

# The generators format their output, but run gofmt so a change in their
# formatting never shows up as a lint failure.
gofmt -w api
