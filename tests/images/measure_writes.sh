#!/usr/bin/env bash
# Measures where each real-Claude test image's Claude Code writes: runs
# `claude mcp list </dev/null` in a fresh container (no network) and prints the
# container's file-system changes (docker diff). The results are recorded in
# README.md beside this file.
#
#   tests/images/measure_writes.sh [NAME...]   (default: every real-Claude image)
set -euo pipefail
images=("$@")
((${#images[@]})) || images=(claude-1031-root claude-1031-xdg claude-1031-configdir claude-1031-dev para-claude
  claude-2x-root claude-2x-xdg claude-2x-configdir claude-2x-dev para-claude-2x)
for name in "${images[@]}"; do
  ref=pb-test/$name:latest
  id=$(docker create --network none --label para-broker.test=measure-writes \
    -e DISABLE_TELEMETRY=1 -e DISABLE_ERROR_REPORTING=1 -e CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
    -e DISABLE_AUTOUPDATER=1 "$ref" claude mcp list)
  trap 'docker rm -f "$id" >/dev/null 2>&1' EXIT
  rc=0
  timeout 120 docker start -a "$id" </dev/null >/dev/null 2>&1 || rc=$?
  echo "== $name (exit $rc)"
  # cache/temp noise under /tmp is left out
  docker diff "$id" | grep -v -E '^[ACD] /tmp(/|$)' | sort -k2
  docker rm -f "$id" >/dev/null
  trap - EXIT
done
