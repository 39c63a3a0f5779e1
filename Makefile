# corral: build, run, test.
#
#   make run    a local cluster (master + 3 agents) on 127.0.0.1:5050..5053
#   make test   everything CI runs: vet, unit, integration and e2e tests, fuzz
#   make bench  micro-benchmarks and the standard `corral bench` set, written
#               into docs/PERFORMANCE.md (make bench-run runs them only)
#   make bench-failover  master failover times under ZooKeeper, 3 and 1,000 agents

GO        ?= go
BIN       := bin
TOOLS     := $(abspath $(BIN)/tools)
PKG       := github.com/corral-sched/corral
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GITSHA    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.GitSHA=$(GITSHA)

PROTOC_GEN_GO_VERSION := v1.36.12
STATICCHECK_VERSION   := v0.8.2
PROTO_FILES := proto/mesospb/mesos.proto proto/schedulerpb/scheduler.proto proto/agentpb/agent.proto proto/masterpb/master.proto proto/masterpb/quota.proto proto/masterpb/maintenance.proto proto/agentapipb/agent_api.proto proto/executorpb/executor.proto

FUZZTIME  ?= 10s
TESTFLAGS ?=

.PHONY: all build run test test-go fuzz lint proto bench bench-run bench-failover bench-failover-big clean tools

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/corral ./cmd/corral

run: build
	$(BIN)/corral dev

test: test-go fuzz

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m $(TESTFLAGS) ./...

# Every fuzz target runs for FUZZTIME; new targets are picked up on their own.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

lint: $(TOOLS)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# tools installs the pinned code generators and linters into bin/tools.
tools: $(TOOLS)/protoc-gen-go $(TOOLS)/staticcheck

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

proto: $(TOOLS)/protoc-gen-go
	PATH="$(TOOLS):$$PATH" protoc -I proto --go_out=. --go_opt=module=$(PKG) $(PROTO_FILES)

# The standard benchmark set: each result goes to $(BENCH_OUT)/NAME.txt
# ("$ command", then its output) and test/bench/report writes it into the
# <!-- bench:NAME --> section of docs/PERFORMANCE.md.
BENCH_OUT ?= .work/bench
bench_run = { echo '$$ $(2)'; $(2); } > $(BENCH_OUT)/$(1).txt.tmp && mv $(BENCH_OUT)/$(1).txt.tmp $(BENCH_OUT)/$(1).txt && cat $(BENCH_OUT)/$(1).txt

bench: bench-run
	$(GO) run ./test/bench/report -doc docs/PERFORMANCE.md -results $(BENCH_OUT)

bench-run: build
	mkdir -p $(BENCH_OUT)
	$(call bench_run,micro,$(GO) test -run NONE -bench . -benchmem ./master/allocator/ ./master/ ./resources/ ./codec/)
	$(call bench_run,launch-sim,$(BIN)/corral bench launch --isolation sim --tasks 10000 --agents 20)
	$(call bench_run,launch-posix,$(BIN)/corral bench launch --isolation posix --tasks 1000 --agents 3)
	$(call bench_run,launch-posix-rate10,$(BIN)/corral bench launch --isolation posix --tasks 200 --agents 3 --rate 10)
	$(call bench_run,scale-1000,$(BIN)/corral bench scale --agents 1000)
	$(call bench_run,scale-5000,$(BIN)/corral bench scale --agents 5000)
	$(call bench_run,churn,$(BIN)/corral bench churn --agents 50 --rate 200 --duration 30s --task-seconds 5)
	$(call bench_run,failover,$(BIN)/corral bench failover --agents 1000 --tasks 5000)
	$(GO) run ./test/bench/batch
	$(GO) run ./test/bench/service

# The failover target's own size, minutes long; make bench then reads its
# result for the target instead of the modest run's.
bench-failover-big: build
	mkdir -p $(BENCH_OUT)
	$(call bench_run,failover-10k,$(BIN)/corral bench failover --agents 10000 --tasks 50000 --zk-session-timeout 5s --timeout 20m)

bench-failover:
	$(GO) run ./test/bench/failover -agents 3,1000 -rounds 3

clean:
	rm -rf $(BIN) .work
