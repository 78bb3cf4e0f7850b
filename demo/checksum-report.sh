#!/bin/sh
# The demo job: sluice runs it once per file that lands in demo/inbox, with the environment
# FaaS Supervisor scripts expect (INPUT_FILE_PATH, EVENT, ...). It writes a small report into
# $OUTBOX (default: the outbox folder next to this script).
#
# Exit status: 0 reported; 3 the file is gone or unreadable (permanent: config/demo.yaml
# dead-letters it at once); anything else, a failure worth retrying.
# No pipelines: `set -e` sees only a pipeline's last command, so a failed `< file` in front of
# a pipe would go unnoticed and leave an empty checksum in the report.
set -eu
gone() {
  echo "cannot report $INPUT_FILE_PATH: $1" >&2
  exit 3
}
OUTBOX=${OUTBOX:-$(dirname "$0")/outbox}
name=$(basename "$INPUT_FILE_PATH")
[ -f "$INPUT_FILE_PATH" ] || gone "no such file (removed since the event?)"
sum=$(sha256sum < "$INPUT_FILE_PATH") || gone "cannot read it"
sum=${sum%% *}
size=$(wc -c < "$INPUT_FILE_PATH") || gone "cannot read it"
size=$((size))
mkdir -p "$OUTBOX"
tmp="$OUTBOX/.$name.report.tmp"
printf 'file: %s\nsize: %s\nsha256: %s\nevent: %s\ntime: %s\n' \
  "$INPUT_FILE_PATH" "$size" "$sum" "$SLUICE_EVENT_ID" "$EVENT_TIME" > "$tmp"
mv "$tmp" "$OUTBOX/$name.report"
echo "reported $name ($size bytes)"
