#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, test and benchmark.
# Idempotent: packages already present are not touched and apt is not even called.
set -euo pipefail
what=${1:-build}   # build | test | bench
pkgs=(g++ cmake make pkg-config
      libboost-dev libcurl4-openssl-dev nlohmann-json3-dev libwebsockets-dev libspdlog-dev
      libyaml-cpp-dev libsqlite3-dev libsystemd-dev libssl-dev libcli11-dev libexpat1-dev)
case "$what" in
  # clang-14 + its runtimes (libFuzzer, ASan, UBSan) and llvm-symbolizer: make fuzz / fuzz-smoke
  # openssl: the TLS tests make their certificates with it (tests/integration/test_dcache.py)
  # dpkg-dev + file: CPack's .deb (dpkg-shlibdeps); systemd: systemd-analyze checks the units;
  # python3-yaml: the tests read the alert rules and the Kubernetes examples
  test)  pkgs+=(libgtest-dev libgmock-dev python3 curl sqlite3 openssl clang-14 libclang-rt-14-dev llvm-14
                dpkg-dev file systemd python3-yaml podman runc mmdebstrap chromium) ;;
  package) pkgs+=(dpkg-dev file) ;;
  bench) pkgs+=(libgtest-dev python3 curl inotify-tools nginx-light sqlite3 wrk) ;;
esac
# The webhook signature test verifies with the Standard Webhooks reference library (npm, in
# tests/integration/webhook_verify): Debian's node and npm unless some are installed already.
if [ "$what" = test ]; then
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ "$what" = test ]; then
  # npm ci reinstalls from scratch: only when the lock file changed since the last install.
  # webhook_verify: Standard Webhooks' reference library; browser: playwright-core (status page)
  for dir in tests/integration/webhook_verify tests/browser; do
    d="$(dirname "$0")/../$dir"
    if ! cmp -s "$d/package-lock.json" "$d/node_modules/.installed-package-lock.json"; then
      (cd "$d" && npm ci --no-audit --no-fund)
      cp "$d/package-lock.json" "$d/node_modules/.installed-package-lock.json"
    fi
  done
  # promtool for tests/integration/test_monitoring.py (unpacked from Debian's prometheus
  # package: no server is installed or started)
  "$(dirname "$0")/install-promtool.sh" >/dev/null
fi
