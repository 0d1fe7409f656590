#!/usr/bin/env bash
# Compares `para-broker audit --image IMAGE` with exporting the same image to
# /dev/null through the Engine API (GET /images/{id}/get), the floor any
# layer-by-layer scan of the export can reach. Goal: the scan within 1.5x.
#
#   bench/audit_images_bench.sh [IMAGE] [RUNS]
#
# Without IMAGE it uses (and builds once, about a minute) the 1 GiB image of
# the Docker tests, pb-test-audit-1g:aesctr-v1. PARA_BROKER points at the
# binary (default: build/broker/para-broker). Needs curl, docker, GNU time.
set -euo pipefail

image=${1:-pb-test-audit-1g:aesctr-v1}
runs=${2:-3}
bin=${PARA_BROKER:-build/broker/para-broker}
sock=${DOCKER_SOCK:-/var/run/docker.sock}

if [ "$image" = pb-test-audit-1g:aesctr-v1 ] && ! docker image inspect "$image" >/dev/null 2>&1; then
  d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
  openssl enc -aes-256-ctr -nosalt -pbkdf2 -pass pass:pb-audit-1g </dev/zero 2>/dev/null | head -c 1073741824 >"$d/blob"
  mkdir -p "$d/zz/.claude"
  printf '{"claudeAiOauth":{"accessToken":"%s"}}' 'sk-ant-oat01-CANARY-test-docker-0123456789abcdef' >"$d/zz/.claude/.credentials.json"
  tar -C "$d" -c blob zz | docker import --change 'LABEL para-broker.test=audit-1g-cache' - "$image" >/dev/null
fi
id=$(docker image inspect --format '{{.Id}}' "$image")

# A private vault so the benchmark never touches the user's.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export PARA_BROKER_HOME=$tmp/vault PARA_BROKER_KEY_FILE=$tmp/key PARA_BROKER_CACHE=$tmp/cache

now() { date +%s.%N; }
best_export=; best_scan=; rss=
for _ in $(seq "$runs"); do
  t0=$(now)
  curl -sf --unix-socket "$sock" "http://localhost/images/$id/get" -o /dev/null
  t1=$(now)
  /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" audit --image "$id" --json >"$tmp/out" || [ $? -eq 10 ]
  t2=$(now)
  e=$(echo "$t1 - $t0" | bc); s=$(echo "$t2 - $t1" | bc)
  if [ -z "$best_export" ] || [ "$(echo "$e < $best_export" | bc)" = 1 ]; then best_export=$e; fi
  if [ -z "$best_scan" ] || [ "$(echo "$s < $best_scan" | bc)" = 1 ]; then best_scan=$s; fi
  rss=$(tail -1 "$tmp/rss")
done
bytes=$(grep -o '"bytes": [0-9]*' "$tmp/out" | tail -1 | grep -o '[0-9]*')
ratio=$(echo "scale=2; $best_scan / $best_export" | bc)
printf 'image %s: %s bytes\n' "$image" "$bytes"
printf 'export to /dev/null: %.2f s (best of %s)\n' "$best_export" "$runs"
printf 'audit --image:       %.2f s (best of %s), peak RSS %s KiB\n' "$best_scan" "$runs" "$rss"
printf 'ratio: %sx (goal <= 1.5x)\n' "$ratio"
[ "$(echo "$ratio <= 1.5" | bc)" = 1 ]
