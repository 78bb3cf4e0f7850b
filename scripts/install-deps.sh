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
  test)  pkgs+=(libgtest-dev libgmock-dev python3 curl sqlite3 openssl clang-14 libclang-rt-14-dev llvm-14) ;;
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
  verify="$(dirname "$0")/../tests/integration/webhook_verify"
  if ! cmp -s "$verify/package-lock.json" "$verify/node_modules/.installed-package-lock.json"; then
    (cd "$verify" && npm ci --no-audit --no-fund)
    cp "$verify/package-lock.json" "$verify/node_modules/.installed-package-lock.json"
  fi
fi
