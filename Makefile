# rangeserve: `make test` installs what the tests need and runs them all.
GO ?= go
FUZZTIME ?= 15s

.PHONY: run test deps check unit fuzz bench build

run:
	$(GO) run ./cmd/rangeserve

build:
	$(GO) build -o bin/rangeserve ./cmd/rangeserve

deps:
	bash scripts/deps.sh

# The README's test command. CI runs it through .ci/run with CI=true, where
# a test that cannot find its external program fails instead of skipping.
test: deps check unit fuzz

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 30m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

bench:
	bash bench/run.sh
