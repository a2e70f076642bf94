# Every target is a one-liner; the logic lives in hack/.
.PHONY: build image cluster test unit verify bench clean test-hosts test-releases conformance

BIN := bin/skiff

build:
	CGO_ENABLED=0 go build -trimpath -o $(BIN) ./cmd/skiff

image: build
	hack/deps.sh && $(BIN) image build

# Idempotent: starts the default cluster if it exists already.
cluster: image
	if $(BIN) status >/dev/null 2>&1; then $(BIN) start; else $(BIN) create; fi

unit:
	go test ./...

verify:
	hack/verify.sh

test: image
	hack/test.sh

# The per-release e2e tests on the Kubernetes releases make test leaves out
# (RELEASES="1.36 1.35" to choose).
test-releases: image
	hack/test-releases.sh $(RELEASES)

# Kubernetes' own [Conformance] specs against a new cluster (about 35 min);
# FOCUS="regexp" runs only the ones whose names match.
conformance: image
	SKIFF_E2E_CONFORMANCE_FOCUS="$(FOCUS)" hack/conformance.sh

# Debian VMs (qemu, KVM) for the cgroup v2 and --privileged host paths;
# needs VT-x/AMD-V KVM, never run yet (README, "Host matrix").
test-hosts: image
	hack/test-hosts.sh $(VARIANTS)

bench: image
	hack/bench.sh

clean:
	rm -rf bin
