#!/usr/bin/env bash
# Makes promtool (Prometheus' rule checker and rule unit-test runner) available without
# installing or starting a Prometheus server, and prints its path on stdout.
#
# promtool already on PATH is used as it is. Otherwise Debian's `prometheus` package is
# downloaded (apt-get download: no dependencies, no maintainer scripts, so no service starts)
# and only usr/bin/promtool is unpacked into a cache folder:
#   ${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}/promtool
# Idempotent: a cached promtool that runs is printed straight away, apt is not called.
# Exit status 1 (with the reason on stderr) when the package cannot be fetched.
set -euo pipefail

if found=$(command -v promtool 2>/dev/null) && "$found" --version >/dev/null 2>&1; then
  echo "$found"
  exit 0
fi

dir=${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}
tool="$dir/promtool"
if [ -x "$tool" ] && "$tool" --version >/dev/null 2>&1; then
  echo "$tool"
  exit 0
fi

for cmd in apt-get dpkg-deb; do
  command -v "$cmd" >/dev/null || { echo "install-promtool: $cmd not found (not Debian?)" >&2; exit 1; }
done
mkdir -p "$dir"
work=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# As root, apt-get download would otherwise warn that it cannot drop to the _apt user for a
# folder _apt may not write.
apt_opts=(-qq)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
fetch() { (cd "$work" && apt-get "${apt_opts[@]}" download prometheus) >&2; }
if ! fetch; then
  # The package lists may be missing or stale (a fresh machine): refresh them once (root only).
  if [ "$(id -u)" -ne 0 ] || ! apt-get "${apt_opts[@]}" update >&2 || ! fetch; then
    echo "install-promtool: could not download Debian's prometheus package" >&2
    exit 1
  fi
fi
deb=$(ls "$work"/prometheus_*.deb)
dpkg-deb -x "$deb" "$work/root"
[ -x "$work/root/usr/bin/promtool" ] || { echo "install-promtool: no usr/bin/promtool in $deb" >&2; exit 1; }
mv -f "$work/root/usr/bin/promtool" "$tool.new"   # then renamed: a concurrent run sees a whole file
mv -f "$tool.new" "$tool"
"$tool" --version >&2
echo "$tool"
