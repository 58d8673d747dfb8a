# A thin wrapper over the go command; `go test ./...` works without it.
GO          ?= go
GOTESTFLAGS ?=
BENCH       = $(GO) test -run '^$$' -benchmem

.PHONY: run test race lint bench fmt build

run:
	$(GO) run ./cmd/bottega

test:
	@[ -n "$$BOTTEGA_TEST_POSTGRES" ] || echo "note: BOTTEGA_TEST_POSTGRES not set: Postgres tests skip (.ci/run sets it)"
	@[ -n "$$BOTTEGA_TEST_REDIS" ] || echo "note: BOTTEGA_TEST_REDIS not set: Redis tests skip (.ci/run sets it)"
	@[ -n "$$BOTTEGA_TEST_MEILI" ] || echo "note: BOTTEGA_TEST_MEILI not set: Meilisearch contract tests skipped"
	$(GO) test $(GOTESTFLAGS) ./...

race:
	$(GO) test -race $(GOTESTFLAGS) ./...

build:
	$(GO) build -o bottega ./cmd/bottega

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# Postgres figures too when BOTTEGA_TEST_POSTGRES is set.
bench:
	BOTTEGA_BENCH=1 $(BENCH) -bench 'Import100k' -benchtime 1x ./catalog/
	$(BENCH) -bench 'Write100kVariants' -benchtime 1x ./catalog/sqlcatalog/
	$(BENCH) -bench 'SearchDemo' -benchtime 5000x ./catalog/
	$(BENCH) -bench 'Search$$' -benchtime 3000x ./catalog/blevecatalog/
	$(BENCH) -bench 'Index50k' -benchtime 1x ./catalog/blevecatalog/
	BOTTEGA_BENCH=1 $(BENCH) -bench 'ColdStart|WarmStart' -benchtime 3x ./cmd/bottega/

fmt:
	gofmt -w $$(git ls-files '*.go')
