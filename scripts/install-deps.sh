#!/usr/bin/env bash
# Installs the Debian 12 packages sluice needs to build, test and benchmark.
# Idempotent: packages already present are not touched and apt is not even called.
set -euo pipefail
what=${1:-build}   # build | test | bench
pkgs=(g++ cmake make pkg-config
      libboost-dev libcurl4-openssl-dev nlohmann-json3-dev libwebsockets-dev libspdlog-dev
      libyaml-cpp-dev libsqlite3-dev libsystemd-dev libssl-dev libcli11-dev)
case "$what" in
  test)  pkgs+=(libgtest-dev libgmock-dev python3 curl sqlite3) ;;
  bench) pkgs+=(libgtest-dev python3 curl inotify-tools nginx-light sqlite3 wrk) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
