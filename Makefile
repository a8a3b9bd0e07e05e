# The README's commands. CMake does the real work; see CMakeLists.txt.
JOBS ?= $(shell nproc)
CONFIG ?= config/default.yaml

.PHONY: run test deps deps-test build build-vigil build-asan clean bench docs

run: deps build-vigil
	@mkdir -p data vigil-out
	@ls data/*.jsonl >/dev/null 2>&1 || cp tests/data/otlp/*.jsonl data/
	./build/vigil --config $(CONFIG)

test: deps-test build build-asan
	ctest --test-dir build --output-on-failure -j$(JOBS)
	ctest --test-dir build-asan --output-on-failure -j$(JOBS)

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

# Only the binary (what `make run` needs).
build-vigil:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS) --target vigil

# ASan + UBSan, built with clang so the fuzz targets are real libFuzzer binaries.
build-asan:
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON -DVIGIL_FUZZ=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

docs: build
	./build/vigil components --markdown docs/components

clean:
	rm -rf build build-asan
