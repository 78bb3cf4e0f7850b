#!/bin/sh
# The demo job: sluice runs it once per file that lands in demo/inbox, with the environment
# FaaS Supervisor scripts expect (INPUT_FILE_PATH, EVENT, ...). It writes a small report.
set -eu
name=$(basename "$INPUT_FILE_PATH")
mkdir -p "$OUTBOX"
sum=$(sha256sum < "$INPUT_FILE_PATH" | cut -d' ' -f1)
size=$(wc -c < "$INPUT_FILE_PATH" | tr -d ' ')
tmp="$OUTBOX/.$name.report.tmp"
printf 'file: %s\nsize: %s\nsha256: %s\nevent: %s\ntime: %s\n' \
  "$INPUT_FILE_PATH" "$size" "$sum" "$SLUICE_EVENT_ID" "$EVENT_TIME" > "$tmp"
mv "$tmp" "$OUTBOX/$name.report"
echo "reported $name ($size bytes)"
