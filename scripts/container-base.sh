#!/usr/bin/env bash
# Makes the Debian 12 base image that container/Dockerfile builds FROM, locally with mmdebstrap:
# these machines have no registry to pull from (../shared/ENVIRONMENT.md). Idempotent: when
# every tag is present nothing runs; when only some are, the missing ones are tagged from the
# first one found. A fresh base takes ~45 s (bookworm minbase, ~170 MB).
#
#   scripts/container-base.sh [podman|docker]     # default: podman
#
# Tags: localhost/debian:12, docker.io/library/debian:12, docker.io/library/debian:12-slim
# (the Dockerfile's `FROM debian:12` and `FROM debian:12-slim` resolve to them with --pull=never).
# MIRROR=http://deb.debian.org/debian overrides the archive (default: the host's apt sources).
set -euo pipefail
engine=${1:-podman}
tags=(localhost/debian:12 docker.io/library/debian:12 docker.io/library/debian:12-slim)

have() { "$engine" image inspect "$1" >/dev/null 2>&1; }

source_tag=""
missing=()
for t in "${tags[@]}"; do
  if have "$t"; then
    [ -n "$source_tag" ] || source_tag=$t
  else
    missing+=("$t")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if [ -z "$source_tag" ]; then
  command -v mmdebstrap >/dev/null || {
    echo "container-base.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2
    exit 1
  }
  tmp=$(mktemp -d /var/tmp/sluice-base.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  echo "container-base.sh: building a bookworm minbase with mmdebstrap (~45 s)" >&2
  # No MIRROR: mmdebstrap takes the host's apt sources (the archive this machine can reach).
  # The apt lists are dropped afterwards, as in the official image: a Dockerfile that installs
  # packages runs apt-get update first. force-unsafe-io (kept in the image, like the old
  # docker-apt-speedup file) spares dpkg's fsyncs here and in every build on this base: a
  # build that crashes is simply run again.
  mmdebstrap --quiet --variant=minbase --format=tar --dpkgopt=force-unsafe-io \
    --aptopt='Acquire::Languages "none"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm "$tmp/base.tar" ${MIRROR:+"$MIRROR"}
  "$engine" import --quiet --change 'CMD ["bash"]' "$tmp/base.tar" localhost/debian:12 >/dev/null
  source_tag=localhost/debian:12
fi
for t in "${missing[@]}"; do
  [ "$t" = "$source_tag" ] || "$engine" tag "$source_tag" "$t"
done
echo "container-base.sh: ${tags[*]} ready" >&2
