# overlay-boot-rs. The two commands of README.md:
#   make example   boot the built-in example, show it running, stop it
#   make check     the whole test suite (what CI runs)
# Both install what a fresh Debian 12 machine lacks (.ci/deps) and need root.
# Installing: make install / make uninstall (DESTDIR, PREFIX, SYSCONFDIR,
# LIBDIR...), make deb (the Debian package overlay-boot-rs in target/debian).
# Building and installing need only .ci/deps-build; the tests .ci/deps-test.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)
# The binaries, one variable each (a change of target is one line here).
# Both are static musl: the launcher static-pie (it runs as host root and
# reads what subhosts write: its addresses stay random), the subinit static
# non-PIE (< 1 MB). Each idle subhost keeps a forked launcher as its
# monitor, and musl's smaller, self-trimming heap saves it about 60 kB
# against static glibc (issue 14). Tests and benchmarks find the subinit
# through OB_SUBINIT.
SUBINIT_TARGET := x86_64-unknown-linux-musl
LAUNCHER_BIN := target/$(SUBINIT_TARGET)/release/overlay-boot
SUBINIT_BIN := target/$(SUBINIT_TARGET)/release/subinit
export OB_SUBINIT := $(CURDIR)/$(SUBINIT_BIN)
PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(LIBDIR)/systemd/system
# The subinit's installed path is baked into the launcher (see
# launcher/src/subinit_path.rs); /usr/lib is its default.
ifneq ($(LIBDIR),/usr/lib)
export OVERLAY_BOOT_LIBDIR := $(LIBDIR)
endif
INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SBINDIR="$(SBINDIR)" LIBDIR="$(LIBDIR)" \
	MANDIR="$(MANDIR)" SYSCONFDIR="$(SYSCONFDIR)" UNITDIR="$(UNITDIR)" \
	LAUNCHER_BIN="$(CURDIR)/$(LAUNCHER_BIN)" SUBINIT_BIN="$(CURDIR)/$(SUBINIT_BIN)"

.PHONY: all deps deps-build deps-test build example check lint test bench stress stress-short install uninstall deb clean

all: build

deps:
	@.ci/deps

deps-build:
	@.ci/deps-build

deps-test:
	@.ci/deps-test

build: deps-build
	cargo build --release --workspace --exclude subinit --bins --target $(SUBINIT_TARGET) --locked
	cargo rustc --release -p subinit --bin subinit --target $(SUBINIT_TARGET) --locked -- -C relocation-model=static

example: build deps-test
	.ci/example

lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo clippy --workspace --bins --target $(SUBINIT_TARGET) --locked -- -D warnings
	man/lint

# Tests that skip for a missing kernel feature say why in $(SKIP_LOG),
# printed at the end (cargo hides a passing test's output).
SKIP_LOG := $(CURDIR)/target/skipped-tests.txt
TEST_LOG := $(CURDIR)/target/test-output.txt

# The last line sums up every cargo test binary (a skipped test returns
# early, so cargo counts it as passed: it is counted as skipped here).
test: build deps-test
	rm -f $(SKIP_LOG)
	OB_SKIP_LOG=$(SKIP_LOG) cargo test --workspace --locked 2>&1 | tee $(TEST_LOG)
	@if [ -s $(SKIP_LOG) ]; then echo "Skipped (kernel features missing here):"; cat $(SKIP_LOG); fi
	$(MAKE) --no-print-directory stress-short
	tests/leak-check
	@skipped=$$(cat $(SKIP_LOG) 2>/dev/null | wc -l); \
	awk -v s=$$skipped '/^test result:/ {p += $$4; f += $$6} \
		END {printf "%d passed, %d failed, %d skipped\n", p - s, f, s}' $(TEST_LOG)

check: lint test

bench: build deps-test
	bench/pid1-bench
	bench/boot-bench --cables 0,1,2
	bench/density

# Faults, signals, races and hostile configurations (issue 11).
# STRESS_ARGS=--short gives a run of a minute or two; `test` runs that one
# (stress-short: the summary, and on a failure the problems as they came).
stress: build deps-test
	bench/stress $(STRESS_ARGS)

STRESS_LOG := $(CURDIR)/target/stress-progress.txt
stress-short:
	@if [ "$$(id -u)" != 0 ] && [ -z "$${CI:-}" ]; then echo "SKIP: bench/stress --short needs root"; \
	else bench/stress --short 2>$(STRESS_LOG) || { grep PROBLEM $(STRESS_LOG) | head -n 20; exit 1; }; fi

install: build
	$(INSTALL_ENV) pkg/install install

uninstall:
	$(INSTALL_ENV) pkg/install uninstall

# Reproducible: SOURCE_DATE_EPOCH (default: the last commit's time).
deb: build
	LAUNCHER_BIN="$(CURDIR)/$(LAUNCHER_BIN)" SUBINIT_BIN="$(CURDIR)/$(SUBINIT_BIN)" pkg/deb

clean:
	cargo clean
