# corral: build, run, test.
#
#   make run    a local cluster (master + 3 agents) on 127.0.0.1:5050..5053
#   make test   everything CI runs: vet, unit, integration and e2e tests, fuzz
#   make bench  micro-benchmarks and the standard `corral-bench` set, written
#               into docs/PERFORMANCE.md (make bench-run runs them only)
#   make bench-failover  master failover rounds under a ZooKeeper ensemble, 3 and 1,000 agents
#   make faults the fault-injection scenarios and a randomized run (root)
#   make dist   release archive and Debian package in dist/ (docs/deploy.md)
#   make ui-vendor  xterm.js from npm into the web UI's static files

GO        ?= go
BIN       := bin
TOOLS     := $(abspath $(BIN)/tools)
PKG       := github.com/corral-sched/corral
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GITSHA    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.GitSHA=$(GITSHA)

PROTOC_GEN_GO_VERSION := v1.36.12
STATICCHECK_VERSION   := v0.8.2
NFPM_VERSION          := v2.48.0
PROTO_FILES := proto/mesospb/mesos.proto proto/schedulerpb/scheduler.proto proto/agentpb/agent.proto proto/masterpb/master.proto proto/masterpb/quota.proto proto/masterpb/maintenance.proto proto/agentapipb/agent_api.proto proto/executorpb/executor.proto

FUZZTIME  ?= 10s
TESTFLAGS ?=

.PHONY: all build run test test-go fuzz faults lint proto bench bench-run bench-failover bench-failover-big bench-scale-big clean tools dist ui-vendor

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/corral ./cmd/corral
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/corral-bench ./cmd/corral-bench

run: build
	$(BIN)/corral dev

test: test-go fuzz

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m $(TESTFLAGS) ./...
	# The race detector deepens every frame: the stack a parked stream
	# goroutine costs is checked in a build without it.
	$(GO) test -count=1 -run 'ParkOnHalvedStacks' $(TESTFLAGS) ./master

# Every fuzz target runs for FUZZTIME; new targets are picked up on their own.
# Go 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" when FUZZTIME ends while a worker is busy (a race in
# the toolchain, go.dev/issue/75804, fixed in Go 1.27); such a failure,
# with no failing input written, is run once more. Any other failure stops.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			if out=$$($(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); then \
				echo "$$out" | tail -n 2; \
			elif echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
				echo "$$out" | tail -n 4; \
				echo "fuzz $$pkg $$target: the coordinator's deadline race, no failing input; once more"; \
				$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
			else \
				echo "$$out"; exit 1; \
			fi; \
		done; \
	done

# The fault scenarios (test/faults: a cluster in network namespaces, as
# root), with those too long for make test and a 60 s randomized run; its
# history and every node's log go to .work/faults/logs. The last line sums
# the runs up. FAULTSFLAGS reaches go test, e.g.
#   make faults FAULTSFLAGS='-run Nemesis -seed 7 -duration 5m'
FAULTS_DIR  := .work/faults
FAULTSFLAGS ?=
faults:
	@mkdir -p $(FAULTS_DIR) && rm -rf $(FAULTS_DIR)/report.tsv $(FAULTS_DIR)/logs
	@CORRAL_FAULTS=1 CORRAL_FAULTS_REPORT=$(abspath $(FAULTS_DIR))/report.tsv CORRAL_FAULTS_LOGS=$(abspath $(FAULTS_DIR))/logs \
		$(GO) test -count=1 -timeout 60m -v ./test/faults/ $(FAULTSFLAGS); status=$$?; \
		touch $(FAULTS_DIR)/report.tsv; \
		awk -F'\t' '{ n++; ops += $$2; bad += $$3 } END { printf "faults: %d scenarios, %d operations checked, %d anomalies\n", n, ops, bad }' $(FAULTS_DIR)/report.tsv; \
		exit $$status

lint: $(TOOLS)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# tools installs the pinned code generators and linters into bin/tools.
tools: $(TOOLS)/protoc-gen-go $(TOOLS)/staticcheck

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/nfpm:
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

# The web UI's terminal (xterm.js) from npm, into the embedded static
# files; the result is committed, so the Go build needs no npm.
ui-vendor:
	master/webui/vendor.sh

proto: $(TOOLS)/protoc-gen-go
	PATH="$(TOOLS):$$PATH" protoc -I proto --go_out=. --go_opt=module=$(PKG) $(PROTO_FILES)

# The standard benchmark set: each result goes to $(BENCH_OUT)/NAME.txt
# ("$ command", then its output) and test/bench/report writes it into the
# <!-- bench:NAME --> section of docs/PERFORMANCE.md.
BENCH_OUT ?= .work/bench
bench_run = $(bench_settle); { echo '$$ $(2)'; $(2); } > $(BENCH_OUT)/$(1).txt.tmp && mv $(BENCH_OUT)/$(1).txt.tmp $(BENCH_OUT)/$(1).txt && cat $(BENCH_OUT)/$(1).txt
# Each benchmark starts from written-back file system metadata with no
# inode tables cached. On an ext4 without a journal (this machine's root),
# creating a file passes over every inode of its group deleted in the last
# minutes whose table block is still cached, so the thousands of sandbox
# files one benchmark deletes at its end slowed the next one's launches
# several-fold. Dropping caches takes root; elsewhere this only syncs.
bench_settle = sync; if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi

bench: bench-run
	$(GO) run ./test/bench/report -doc docs/PERFORMANCE.md -results $(BENCH_OUT)

bench-run: build
	mkdir -p $(BENCH_OUT)
	$(call bench_run,micro,$(GO) test -run NONE -bench . -benchmem ./master/allocator/ ./master/core/ ./resources/ ./codec/)
	$(call bench_run,launch-sim,$(BIN)/corral-bench launch --isolation sim --tasks 10000 --agents 20)
	$(call bench_run,launch-posix,$(BIN)/corral-bench launch --isolation posix --tasks 1000 --agents 3)
	$(call bench_run,launch-posix-rate10,$(BIN)/corral-bench launch --isolation posix --tasks 200 --agents 3 --rate 10)
	$(call bench_run,launch-posix-serial,$(BIN)/corral-bench launch --isolation posix --tasks 200 --agents 3 --one-at-a-time)
ifeq ($(shell id -u),0)
	# Containers (cgroups, namespaces) take root; runc run is the yardstick.
	$(call bench_run,launch-linux,$(BIN)/corral-bench launch --isolation linux --tasks 200 --agents 3)
	$(call bench_run,launch-linux-serial,$(BIN)/corral-bench launch --isolation linux --tasks 100 --agents 1 --one-at-a-time)
	# The floor under both: libcontainer alone, in a binary of its own.
	$(GO) build -o $(BIN)/libcontainer-floor ./test/bench/libcontainer
	$(call bench_run,libcontainer-floor,$(BIN)/libcontainer-floor -n 200)
endif
	$(call bench_run,scale-1000,$(BIN)/corral-bench scale --agents 1000)
	$(call bench_run,scale-5000,$(BIN)/corral-bench scale --agents 5000)
	$(call bench_run,churn,$(BIN)/corral-bench churn --agents 50 --rate 200 --duration 30s --task-seconds 5)
	$(call bench_run,failover,$(BIN)/corral-bench failover --agents 1000 --tasks 5000)
	$(GO) run ./test/bench/batch
	$(GO) build -o $(BIN)/bench-service ./test/bench/service
	$(call bench_run,service,$(BIN)/bench-service)

# The failover target's own size, minutes long; make bench then reads its
# result for the target instead of the modest run's.
# 50,000 simulated agents in five processes of 10,000 (one process cannot
# hold their open checkpoint logs within 20,000 file descriptors), the
# master a process of its own, all kept heartbeating a minute.
bench-scale-big: build
	mkdir -p $(BENCH_OUT)
	$(call bench_run,scale-50k,$(BIN)/corral-bench scale --agents 50000 --master-process --hold 60s --timeout 15m)

bench-failover-big: build
	mkdir -p $(BENCH_OUT)
	$(call bench_run,failover-10k,$(BIN)/corral-bench failover --agents 10000 --tasks 50000 --zk-session-timeout 5s --timeout 20m)

# Three kills of the leader in a row under a 3-server ensemble, as the
# history in docs/PERFORMANCE.md measured them; not part of make bench.
bench-failover: build
	mkdir -p $(BENCH_OUT)
	$(call bench_run,failover-rounds-3,$(BIN)/corral-bench failover --agents 3 --tasks 0 --rounds 3 --zk-servers 3)
	$(call bench_run,failover-rounds-1000,$(BIN)/corral-bench failover --agents 1000 --tasks 0 --rounds 3 --zk-servers 3)

# Release artifacts: corral-VERSION-linux-ARCH.tar.gz (the binary, the
# systemd units, the default /etc/corral files, the deployment docs) and
# the Debian package built from packaging/nfpm.yaml, with SHA256SUMS.
# Debian versions start with a digit: tag v1.2.3 gives 1.2.3, an untagged
# tree 0.0.0+git<sha>.
DIST         ?= dist
DIST_ARCH    ?= $(shell $(GO) env GOARCH)
DIST_VERSION ?= $(or $(patsubst v%,%,$(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)),0.0.0+git$(or $(GITSHA),unknown))
DIST_NAME    := corral-$(DIST_VERSION)-linux-$(DIST_ARCH)

dist: $(TOOLS)/nfpm
	rm -rf $(DIST) && mkdir -p $(DIST)/$(DIST_NAME)/bin $(DIST)/$(DIST_NAME)/systemd $(DIST)/$(DIST_NAME)/etc/corral $(DIST)/$(DIST_NAME)/docs
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/$(DIST_NAME)/bin/corral ./cmd/corral
	cp packaging/systemd/*.service $(DIST)/$(DIST_NAME)/systemd/
	cp packaging/etc/*.yaml $(DIST)/$(DIST_NAME)/etc/corral/
	cp docs/deploy.md docs/configuration.md $(DIST)/$(DIST_NAME)/docs/
	cp LICENSE README.md $(DIST)/$(DIST_NAME)/
	tar -C $(DIST) -czf $(DIST)/$(DIST_NAME).tar.gz $(DIST_NAME)
	CORRAL_BIN=$(DIST)/$(DIST_NAME)/bin/corral DIST_VERSION=$(DIST_VERSION) DIST_ARCH=$(DIST_ARCH) \
		$(TOOLS)/nfpm package --config packaging/nfpm.yaml --packager deb --target $(DIST)/
	rm -rf $(DIST)/$(DIST_NAME)
	cd $(DIST) && sha256sum *.tar.gz *.deb > SHA256SUMS
	@ls -l $(DIST)

clean:
	rm -rf $(BIN) .work $(DIST)
