# The two README commands: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Debian 12 packages the build, the tests and the peers in the end-to-end tests need.
DEB_PACKAGES := build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev \
	liburing-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev \
	libcoap3-bin tshark
# Only `make docs` needs Doxygen, and only `make deb` needs file (used by CPack's dpkg-shlibdeps).
DOCS_PACKAGES := doxygen
PACKAGING_PACKAGES := dpkg-dev file
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
QUICK ?= 0

.PHONY: help deps build build-asan build-fuzz run test test-release test-asan test-fuzz bench fuzz \
	deb docs clean

# Installs those of the Debian packages $(1) that are missing.
define install_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "Installing missing packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

help:
	@echo "make run    - install missing packages, build Release, start coapd"
	@echo "make test   - install missing packages, build, run every test (Release, ASan+UBSan, fuzz smoke)"
	@echo "make bench  - run the benchmarks"
	@echo "make fuzz   - run every fuzz target for FUZZ_SECONDS (default 60) each"
	@echo "make deb    - build the Debian package build/coap_<version>_<arch>.deb"
	@echo "make docs   - render the API reference into build/docs/html with Doxygen"

deps:
	$(call install_missing,$(DEB_PACKAGES))
	@# The npm package coap, a peer of the end-to-end tests (tests/e2e/package.json).
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "Installing missing packages: nodejs npm"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi
	@if [ ! -d tests/e2e/node_modules/coap ]; then \
		npm ci --no-audit --no-fund --prefix tests/e2e; \
	fi

build: deps
	cmake --preset release >/dev/null
	cmake --build build -j $(JOBS)

build-asan: deps
	cmake --preset asan >/dev/null
	cmake --build build-asan -j $(JOBS)

build-fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# coaps:// uses the ETSI CoAP#4 demo PSK (identity "password", key "sesame"): a demo, not a secret.
DEMO_PSK := --psk-identity password --psk-key sesame

run: build
	./build/bin/coapd $(DEMO_PSK)

test: test-release test-asan test-fuzz

test-release: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

test-asan: build-asan
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

test-fuzz: build-fuzz
	ctest --test-dir build-fuzz --output-on-failure

# The side-by-side server benchmark and the micro-benchmarks (bench/run_bench.sh, about 7
# minutes; QUICK=1 under one minute); the results go into BENCHMARKS.md.
bench: build
	QUICK=$(QUICK) BUILD_DIR=build bench/run_bench.sh

fuzz: build-fuzz
	@for target in build-fuzz/bin/fuzz_*; do \
		name=$${target##*/fuzz_}; \
		echo "== $$name for $(FUZZ_SECONDS)s"; \
		mkdir -p build-fuzz/corpus/$$name; \
		$$target -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$name fuzz/corpus/$$name || exit 1; \
	done

# CPack builds everything, installs it into a staging tree and lets dpkg-shlibdeps compute the
# dependencies; `apt-get install ./build/coap_*.deb` installs the result.
deb: build
	$(call install_missing,$(PACKAGING_PACKAGES))
	cd build && cpack -G DEB

# Doxygen prints a warning for every undocumented public symbol.
docs:
	$(call install_missing,$(DOCS_PACKAGES))
	mkdir -p build/docs
	doxygen docs/Doxyfile
	@echo "HTML: build/docs/html/index.html"

clean:
	rm -rf build build-debug build-asan build-fuzz
