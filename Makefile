# overlay-boot-rs. The two commands of README.md:
#   make example   boot the built-in example, show it running, stop it
#   make check     the whole test suite (what CI runs)
# Both install what a fresh Debian 12 machine lacks (.ci/deps) and need root.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)
BIN := target/x86_64-unknown-linux-gnu/release
PREFIX ?= /usr

.PHONY: all deps build example check lint test bench stress install clean

all: build

deps:
	@.ci/deps

build: deps
	cargo build --release --workspace --bins --locked

example: build
	.ci/example

lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	man/lint

# Tests that skip for a missing kernel feature say why in $(SKIP_LOG),
# printed at the end (cargo hides a passing test's output).
SKIP_LOG := $(CURDIR)/target/skipped-tests.txt
TEST_LOG := $(CURDIR)/target/test-output.txt

# The last line sums up every cargo test binary (a skipped test returns
# early, so cargo counts it as passed: it is counted as skipped here).
test: build
	rm -f $(SKIP_LOG)
	OB_SKIP_LOG=$(SKIP_LOG) cargo test --workspace --locked 2>&1 | tee $(TEST_LOG)
	@if [ -s $(SKIP_LOG) ]; then echo "Skipped (kernel features missing here):"; cat $(SKIP_LOG); fi
	tests/leak-check
	@skipped=$$(cat $(SKIP_LOG) 2>/dev/null | wc -l); \
	awk -v s=$$skipped '/^test result:/ {p += $$4; f += $$6} \
		END {printf "%d passed, %d failed, %d skipped\n", p - s, f, s}' $(TEST_LOG)

check: lint test

bench: build
	bench/pid1-bench
	bench/boot-bench --cables 0,1,2

# Faults, signals, races and hostile configurations (issue 11); not part of
# check yet. STRESS_ARGS=--short gives a run of a minute or two.
stress: build
	bench/stress $(STRESS_ARGS)

install: build
	install -D -m 755 $(BIN)/overlay-boot $(DESTDIR)$(PREFIX)/sbin/overlay-boot
	for name in overlay-stop overlay-go overlay-share overlay-diskfile; do \
		ln -sf overlay-boot $(DESTDIR)$(PREFIX)/sbin/$$name; done
	install -D -m 755 $(BIN)/subinit $(DESTDIR)$(PREFIX)/lib/overlay-boot/subinit
	for page in man/*.[58]; do \
		install -D -m 644 $$page $(DESTDIR)$(PREFIX)/share/man/man$${page##*.}/$${page##*/}; done

clean:
	cargo clean
