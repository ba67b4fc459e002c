# Hookflash — the two commands that matter: `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: demo test build vet fuzz bench bench-short bench-harness clean

## demo: run the embedded single node with simulated PBXes and live calls
demo:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/hookflash demo

## test: start ephemeral Redis + Postgres, go vet, go test -race, helm checks
test:
	bash scripts/test.sh

## build: the hookflash and pbxsim binaries into bin/
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/hookflash ./cmd/hookflash
	CGO_ENABLED=0 $(GO) build -o bin/pbxsim ./cmd/pbxsim

vet:
	$(GO) vet ./...

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run=^$$ -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./pbxconn/ami/
	$(GO) test -run=^$$ -fuzz=FuzzDecodeEvent -fuzztime=$(FUZZTIME) ./pbxconn/ari/
	$(GO) test -run=^$$ -fuzz=FuzzParseCredentials -fuzztime=$(FUZZTIME) ./authz/

## bench: package micro-benchmarks (see docs/benchmarks.md for the harness)
bench:
	$(GO) test -run=^$$ -bench=. -benchmem ./...

## bench-short: the bench harness, every DESIGN §9 scenario scaled down (< 60 s)
bench-short:
	$(GO) run ./cmd/hfbench --short --scenario all

## bench-harness: the bench harness, full size (SCENARIO=fanout|saturation|idle|connectors|resume|failover|all)
SCENARIO ?= all
bench-harness:
	$(GO) run ./cmd/hfbench --scenario $(SCENARIO)

clean:
	rm -rf bin
