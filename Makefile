# fstrack: the front door. meson/ninja do the building; these targets make
# sure the Debian packages are there first (installing them when run as root).
#
#   make            build build/fstrackd, build/fstrack and build/fstrack-watchman
#   make run        build and start the daemon (default state dir and socket)
#   make check      build (plain and ASan/UBSan) and run every test
#   make bench      the benchmarks of bench/ (figures, never pass/fail)
#   make install    install under PREFIX (default /usr/local)

PREFIX ?= /usr/local
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?=

# Debian packages: building, unit tests, shell tests and the filesystems the
# tests make, the consumers they drive.
BUILD_PKGS = meson ninja-build pkg-config gcc libjson-c-dev libcmocka-dev
# watchman: Watchman 4.9's command line drives the Watchman socket in t5040. (Node and
# npm are not asked for: a nodejs from elsewhere brings its own npm, and t5020 installs
# fb-watchman with it or says loudly why it cannot.)
TEST_PKGS = sharness xfsprogs btrfs-progs e2fsprogs rsync git util-linux attr acl python3-pywatchman \
	watchman
# What the benchmarks of bench/ run (watchman: the Watchman columns).
BENCH_PKGS = hyperfine jq bc watchman
# (tools/build-git, which builds git >= 2.55 for the t44xx tests and the git
# benches when the installed git is older, asks tools/ensure-packages for its
# own list, only when it builds.)

.PHONY: all deps test-deps run stop check unit-check shell-check bench install clean format

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@./tools/ensure-packages $(BUILD_PKGS)

test-deps:
	@./tools/ensure-packages $(BUILD_PKGS) $(TEST_PKGS)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

run: all
	@build/fstrackd
	@echo "fstrackd is running; try: build/fstrack watch \$$HOME && build/fstrack status"

# Stop the daemon that answers on the default socket (not every fstrackd).
stop:
	@pid=$$(build/fstrack status --json 2>/dev/null | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'); \
	if [ -n "$$pid" ]; then kill -TERM "$$pid" && echo "stopped fstrackd ($$pid)"; \
	else echo "no fstrackd answers on the default socket"; fi

check: test-deps all $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@./tools/build-git $(BUILD)
	./tests/run-all $(BUILD) $(ASAN_BUILD)

bench: test-deps all
	@./tools/ensure-packages $(BENCH_PKGS)
	./bench/run-all $(BUILD)

install: all
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

format:
	git clang-format
