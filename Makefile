# jit — the two commands a newcomer needs are `make demo` and `make test`.

GO       ?= go
BIN      ?= bin/jit
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE     ?= $(shell git log -1 --format=%cI 2>/dev/null | sed 's/+00:00/Z/')
PKG      := github.com/jitaccess/jit/internal/build
LDFLAGS  := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Date=$(DATE)

# Tests and the demo never leave loopback: no IMDS probes, and any client
# that ignores its endpoint settings hits a black hole on 127.0.0.1:9.
export AWS_EC2_METADATA_DISABLED := true
export HTTP_PROXY  := http://127.0.0.1:9
export HTTPS_PROXY := http://127.0.0.1:9
export http_proxy  := http://127.0.0.1:9
export https_proxy := http://127.0.0.1:9
export NO_PROXY    := 127.0.0.1,localhost,::1
export no_proxy    := 127.0.0.1,localhost,::1
export GOFLAGS     := -mod=readonly

.PHONY: all build demo test test-short fuzz bench generate check-generated clean

all: build

# cgo off: a static binary, and no dynamic loader at every start (−0.5 ms).
# jit-gcp is the GCP provider in its own executable (see
# providers/gcp/remote): jit finds it next to itself.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/jit
	CGO_ENABLED=0 $(GO) build -trimpath -tags grpcnotrace -ldflags "$(LDFLAGS)" -o $(dir $(BIN))jit-gcp ./cmd/jit-gcp

# The whole flow on the built-in sandbox: a fake STS on loopback, a throwaway
# policy repository, a grant, a denial and the audit trail. No cloud account.
demo: build
	@PATH="$(CURDIR)/bin:$$PATH" $(BIN) dev -- sh scripts/demo.sh

# Unit, command and end-to-end (testscript) tests, and a vet.
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test-short:
	$(GO) test -short ./...

# A short run of every fuzzer (make fuzz FUZZTIME=5m for longer).
FUZZTIME ?= 20s
fuzz:
	sh scripts/fuzz.sh $(FUZZTIME)

# Benchmarks: Go benchmarks plus the start-up and end-to-end comparison
# recorded in docs/performance.md.
bench: build
	sh scripts/bench.sh

# Completions and the command reference, from the real command tree.
generate: build
	$(BIN) completion bash > completions/jit.bash
	$(BIN) completion zsh > completions/_jit
	$(BIN) completion fish > completions/jit.fish
	$(BIN) completion powershell > completions/jit.ps1
	$(GO) run ./cmd/gen-docs --out docs/cli

check-generated: generate
	git diff --exit-code -- completions docs/cli

clean:
	rm -rf bin dist
