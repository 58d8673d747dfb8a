# A thin wrapper over the go command; `go test ./...` works without it.
GO          ?= go
GOTESTFLAGS ?=
BENCHFLAGS  ?= -run '^$$' -benchmem -benchtime 1x

.PHONY: run test race lint bench fmt build

run:
	$(GO) run ./cmd/bottega

test:
	$(GO) test $(GOTESTFLAGS) ./...

race:
	$(GO) test -race $(GOTESTFLAGS) ./...

build:
	$(GO) build -o bottega ./cmd/bottega

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

bench:
	BOTTEGA_BENCH=1 $(GO) test $(BENCHFLAGS) -bench . ./catalog/... ./cmd/...

fmt:
	gofmt -w $$(git ls-files '*.go')
