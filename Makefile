# Herald's build. `make test` is what CI runs: it installs what it needs on a
# fresh Debian machine (as root) and runs every test that exists.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GO          ?= go
BIN         := $(CURDIR)/bin
TOOLS_BIN   := $(CURDIR)/bin/tools
export PATH := $(TOOLS_BIN):$(PATH)

# Tool versions, pinned. Bump deliberately.
STATICCHECK_VERSION    := v0.8.2
CONTROLLER_GEN_VERSION := v0.23.0
CODE_GENERATOR_VERSION := v0.37.2
KUBECONFORM_VERSION    := v0.7.0
HELM_VERSION           := v3.22.0
# The Kubernetes version the chart is rendered and validated for: the lab's
# (testbed/kube's KubernetesVersion), whose OpenAPI document the schemas are
# made from.
CHART_KUBE_VERSION     := 1.37.1
# Core kinds that examples/ may hold next to metallb.io objects; kubeconform
# skips them because only schemas made from Herald's CRDs are available.
KUBECONFORM_SKIP       := Namespace,Node,Secret,Service,ConfigMap
CHART_KUBECONFORM      := -strict -summary \
  -schema-location '$(BIN)/kube-schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json' \
  -schema-location '$(BIN)/crd-schemas/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'

# Debian packages the lab and the L2 tests need (routers, namespaces,
# captures, clients; arping and ndisc6 are the kernel's own ARP and NDP
# clients the l2 package's tests answer; nftables cuts paths in the BFD and
# split-brain tests).
APT_PACKAGES := iproute2 frr bird2 curl jq tcpdump iputils-ping iputils-arping ndisc6 nftables

FUZZTIME ?= 5m
BENCHTIME ?= 1s
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: build testbed-bin test unit e2e fuzz bench soak demo generate verify-generate lint tools deps clean image image-test

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Build tags of every herald binary. grpcnotrace leaves out gRPC's use of
# golang.org/x/net/trace (Herald serves none of its pages), whose init
# reaches html/template: a template calls methods by name through
# reflection, and a binary that can do that keeps every exported method of
# every type in it, the codecs of all the Kubernetes API types among them.
# With the tag herald is 56 MB instead of 99 MB, and a running speaker maps
# nearly all of its binary (docs/BENCHMARKS.md). The Dockerfile repeats the
# tags; cmd/herald's TestNoMethodCalledByName reads both and checks the
# binary they build. testbed/e2e builds herald with `make build`.
GO_TAGS := grpcnotrace

build:
	$(GO) build -tags '$(GO_TAGS)' -ldflags "$(LDFLAGS)" -o $(BIN)/herald ./cmd/herald
	$(GO) build -o $(BIN)/kubectl-herald ./cmd/kubectl-herald

## test: everything, at a small size: lint, the generated-code check, unit
## tests with -race (fuzz seed corpora run as ordinary tests), then every test
## of the lab in testbed/ (the ones that need network namespaces skip, saying
## so, when not run as root).
test: deps tools lint verify-generate unit image-test e2e

unit:
	$(GO) test -race -count=1 ./...

## e2e: the lab's tests: the real kube-apiserver, namespaces, FRR, BIRD,
## GoBGP, the collector, and Herald against them. The first run builds
## etcd, kube-apiserver, kubectl and Jaeger from source (about 8 minutes on
## 2 cores) before the tests start; later runs use the cache.
## No -race here: GoBGP's package globals race when several run in one test
## binary (its own issue, not Herald's).
e2e: deps testbed-bin
	$(BIN)/testbed binaries
	cd testbed && $(GO) test -count=1 -timeout 40m ./...

## fuzz: every native fuzz target for FUZZTIME (default 5m) each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: every benchmark, including the side-by-side comparisons in testbed/.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...
	cd testbed && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## soak: the long runs of the lab's tests: leader failover with 5,000
## Services (in-process, also across an API server restart, and the real
## binary SIGKILLed), 50 clients churning Services for 60 s against a small
## pool, 200 Services timed to the route, 10,000 Services to two peers, a 60 s
## API server outage, 20 trials each of a BFD path cut and of every L2
## failover case (docs/BENCHMARKS.md has their figures).
soak: deps
	HERALD_SOAK=1 $(GO) test -count=1 -timeout 30m -run 'TestMesh' ./liveness/
	cd testbed && HERALD_SOAK=1 $(GO) test -count=1 -timeout 90m -v -run 'TestControllerFailover|TestControllerBinaryKilled|TestControllerChurn' ./e2e/
	cd testbed && HERALD_SOAK=1 $(GO) test -count=1 -timeout 120m -v -run 'TestBFDPathCut|TestBFDInterop|TestBFDAuthentication|TestL2Failover|TestBGPServiceToRouteLatency|TestBGPAPIServerOutage|TestBGPScale' ./e2e/

## demo: the local lab with Services getting IPs and answering requests over BGP and
## over L2 (IPv4 and IPv6, a dual-stack Service).
## The lab stays up afterwards; bin/testbed status|down inspect and remove it.
demo: deps build testbed-bin
	$(BIN)/testbed demo

## image: the container image, without a Docker daemon: herald built static
## (CGO_ENABLED=0) for each of IMAGE_PLATFORMS, packed by hack/image (its own
## module, github.com/google/go-containerregistry) into one OCI archive,
## $(IMAGE_TAR), then read back and checked. Push it with e.g.
## `skopeo copy --all oci-archive:bin/herald-image.tar docker://REGISTRY/herald:TAG`.
## The Dockerfile builds the same image with Docker.
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_TAR       ?= $(BIN)/herald-image.tar
IMAGE_CA_CERTS  ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
IMAGE_CREATED   ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	@set -e; for p in $(IMAGE_PLATFORMS); do \
	  echo "herald for $$p"; \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -tags '$(GO_TAGS)' -ldflags "$(LDFLAGS) -s -w" \
	    -o $(BIN)/$${p%/*}-$${p#*/}/herald ./cmd/herald; \
	done
	cd hack/image && $(GO) run . -out $(IMAGE_TAR) -version $(VERSION) -revision $(COMMIT) -created $(IMAGE_CREATED) \
	  $(if $(IMAGE_CA_CERTS),-ca-certs $(IMAGE_CA_CERTS)) \
	  $(foreach p,$(IMAGE_PLATFORMS),-binary $(p)=$(BIN)/$(subst /,-,$(p))/herald)
	cd hack/image && $(GO) run . -inspect $(IMAGE_TAR)

## image-test: hack/image's own tests (a module of its own, outside ./...).
image-test:
	cd hack/image && $(GO) test -count=1 ./...

testbed-bin:
	cd testbed && $(GO) build -o $(BIN)/testbed ./cmd/testbed

generate: tools
	./hack/generate.sh

verify-generate: generate
	@if [ -n "$$(git status --porcelain -- api charts/herald/crds charts/herald/templates/_crds.tpl 2>/dev/null)" ]; then \
	  echo "make generate changed committed files:"; git status --short -- api charts/herald/crds charts/herald/templates/_crds.tpl; exit 1; fi

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...
	cd testbed && $(GO) vet ./... && staticcheck ./...
	cd hack/image && $(GO) vet ./... && staticcheck ./...
	@# Structural check of the CRDs and of every example with kubeconform,
	@# against JSON Schemas made from the CRDs themselves (no network). The
	@# core kinds examples use as supporting objects have no schema here.
	rm -rf $(BIN)/crd-schemas
	cd testbed && $(GO) run ./crdcheck/crdschemas -crds ../charts/herald/crds -out $(BIN)/crd-schemas
	kubeconform -strict -summary -skip $(KUBECONFORM_SKIP) \
	  -schema-location '$(BIN)/crd-schemas/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json' \
	  charts/herald/crds examples
	@# The Helm chart: helm lint, then the chart rendered with each value set
	@# of charts/herald/ci (the defaults; every option on) through
	@# kubeconform, strictly, against the Kubernetes API of the lab's version
	@# (schemas made offline from the k8s.io/kubernetes module's OpenAPI
	@# document) and the CRDs (Herald's, and the Prometheus Operator's for the
	@# monitoring objects).
	rm -rf $(BIN)/kube-schemas $(BIN)/monitoring-crds
	cd testbed && $(GO) run ./cmd/kubeschemas -out $(BIN)/kube-schemas -monitoring-crds $(BIN)/monitoring-crds
	cd testbed && $(GO) run ./crdcheck/crdschemas -crds $(BIN)/monitoring-crds -out $(BIN)/crd-schemas
	@set -eo pipefail; for v in charts/herald/ci/*-values.yaml; do \
	  echo "chart with $$v:"; \
	  helm lint --strict --kube-version $(CHART_KUBE_VERSION) -f $$v charts/herald; \
	  helm template herald charts/herald -n metallb-system --kube-version $(CHART_KUBE_VERSION) -f $$v \
	    | kubeconform $(CHART_KUBECONFORM) -; \
	done
	@# The check must be able to fail: one misspelt field in the rendered
	@# Deployment is refused.
	@set -o pipefail; if helm template herald charts/herald -n metallb-system --kube-version $(CHART_KUBE_VERSION) \
	    | sed 's/^  replicas: /  replica: /' | kubeconform $(CHART_KUBECONFORM) - >/dev/null; then \
	  echo "kubeconform accepted a Deployment with a misspelt field"; exit 1; fi

tools: $(TOOLS_BIN)/.stamp-$(STATICCHECK_VERSION)-$(CONTROLLER_GEN_VERSION)-$(CODE_GENERATOR_VERSION)-$(KUBECONFORM_VERSION)-$(HELM_VERSION)

$(TOOLS_BIN)/.stamp-%:
	mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	GOBIN=$(TOOLS_BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	GOBIN=$(TOOLS_BIN) $(GO) install k8s.io/code-generator/cmd/client-gen@$(CODE_GENERATOR_VERSION) \
	  k8s.io/code-generator/cmd/lister-gen@$(CODE_GENERATOR_VERSION) \
	  k8s.io/code-generator/cmd/informer-gen@$(CODE_GENERATOR_VERSION) \
	  k8s.io/code-generator/cmd/register-gen@$(CODE_GENERATOR_VERSION)
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	GOBIN=$(TOOLS_BIN) $(GO) install -ldflags "-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)" \
	  helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $@

## deps: Debian packages for the lab (root only; a no-op when present).
deps:
ifeq ($(IS_ROOT),yes)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
else
	@echo "make deps: not root; install $(APT_PACKAGES) yourself"
endif

clean:
	rm -rf $(BIN)
