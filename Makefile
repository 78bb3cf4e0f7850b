# The two commands a newcomer needs: `make run` and `make test` (see README.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build run test unit asan integration crash bench clean

all: build

deps:
	./scripts/install-deps.sh build

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Starts sluice on the demo config: drop files into demo/inbox, reports appear in demo/outbox.
# Builds only the daemon and needs only the build packages: on a machine without GoogleTest, a
# first configure caches SLUICE_TESTS=OFF in $(BUILD) instead of failing on find_package(GTest).
run: deps
	if [ -f $(BUILD)/CMakeCache.txt ] || [ -f /usr/include/gtest/gtest.h ]; then \
	  cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null; \
	else \
	  cmake -S . -B $(BUILD) $(CMAKE_ARGS) -DSLUICE_TESTS=OFF >/dev/null; \
	fi
	cmake --build $(BUILD) -j$(JOBS) --target sluice
	mkdir -p demo/inbox demo/outbox
	./$(BUILD)/sluice run -c config/demo.yaml

test: fuzz-smoke
	./scripts/install-deps.sh test
	$(MAKE) --no-print-directory unit asan integration crash

unit:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) -DSLUICE_TESTS=ON >/dev/null
	cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure

# The unit tests again, under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS) --target sluice_unit_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ./$(ASAN_BUILD)/sluice_unit_tests

# End-to-end tests: build/sluice against fake servers on 127.0.0.1.
integration:
	SLUICE_BIN=$(CURDIR)/$(BUILD)/sluice python3 -m unittest discover -v -s tests/integration -p 'test_*.py'

# kill -9 at random moments while files arrive; every file must be delivered.
crash:
	SLUICE_BIN=$(CURDIR)/$(BUILD)/sluice python3 tests/integration/crash_test.py

bench: build
	./scripts/install-deps.sh bench
	./bench/run.sh $(BUILD)

# libFuzzer targets (tests/fuzz/, clang-14, ASan+UBSan) in build-fuzz: `fuzz-smoke` runs each
# once over its seed corpus (part of `make test`); `fuzz` runs each for FUZZ_SECONDS.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-smoke

fuzz-smoke:
	./scripts/install-deps.sh test
	JOBS=$(JOBS) ./tests/fuzz/run.sh smoke $(FUZZ_BUILD)

fuzz:
	./scripts/install-deps.sh test
	JOBS=$(JOBS) FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh fuzz $(FUZZ_BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
