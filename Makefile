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

# The unit tests again, under AddressSanitizer + UndefinedBehaviorSanitizer: built in the fuzz
# build (clang-14), from the same instrumented objects as the fuzz targets, so that `make test`
# compiles the tree twice, not three times. `make asan-gcc`: the same with g++ (Debug).
asan:
	./scripts/install-deps.sh test
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DSLUICE_FUZZ=ON -DSLUICE_TESTS=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target sluice_unit_tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ./$(FUZZ_BUILD)/sluice_unit_tests

.PHONY: asan-gcc
asan-gcc:
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

# The Debian package (CPack, cmake/packaging.cmake): $(BUILD)/sluice_<version>_<arch>.deb.
.PHONY: package
package: build
	./scripts/install-deps.sh package
	cd $(BUILD) && cpack -G DEB

# The container image, sluice compiled inside (container/Dockerfile; long on 2 cores). The
# Debian base is made locally when absent (scripts/container-base.sh, mmdebstrap). `make test`
# builds only the runtime stage, around the binary it built.
IMAGE ?= localhost/sluice:latest
.PHONY: image image-test status-page
image:
	./scripts/container-base.sh
	podman --runtime runc build --format docker --pull=never --network host \
	  --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -f container/Dockerfile -t $(IMAGE) .
image-test: image
	SLUICE_IMAGE=$(IMAGE) SLUICE_BIN=$(CURDIR)/$(BUILD)/sluice python3 -m unittest -v tests/integration/test_container.py

# The status page in headless Chromium (prints the screenshot path; SLUICE_KEEP_TMP=1 keeps it).
status-page:
	./scripts/install-deps.sh test
	SLUICE_BIN=$(CURDIR)/$(BUILD)/sluice python3 -m unittest -v tests/integration/test_status_page.py

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
