# citytwin: the two commands are `make demo` and `make test`.
# The Makefile only delegates; the scripts in scripts/ do the work.

.PHONY: all build demo test deps fuzz bench bench-import bench-tiles bench-api bench-live vet clean

all: build

deps:
	bash scripts/install-deps.sh

build: deps
	bash scripts/build.sh

demo: build
	./bin/citytwin demo

test:
	bash scripts/test.sh

vet:
	go vet ./...

fuzz:
	bash scripts/fuzz.sh $(or $(FUZZTIME),1m)

bench: bench-import bench-tiles bench-api bench-live

clean:
	rm -rf bin web/dist

bench-tiles:
	scripts/bench-tiles.sh

bench-live:
	bash scripts/bench-live.sh

bench-import:
	bash scripts/bench-import.sh

bench-ingest:
	bash scripts/bench-ingest.sh

bench-api:
	bash scripts/bench-api.sh
