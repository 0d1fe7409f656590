#!/bin/sh
# mount_bench.sh: time `para-broker mount` (probe cached, first session of a
# volume, so the full populate path) against the same effect done with docker
# CLI commands: volume create, create (never started), cp of the same files
# with the same owner and modes, rm. Prints both means and their ratio.
#
#   bench/mount_bench.sh [PARA_BROKER_BINARY] [IMAGE] [ROUNDS]
#
# Defaults: para-broker on PATH, pb-test/claude-2x-dev:latest (tests/images), 10.
# Everything it makes carries para-broker.test=bench-<pid> and is removed.
set -eu

broker=${1:-para-broker}
image=${2:-pb-test/claude-2x-dev:latest}
rounds=${3:-10}
label="para-broker.test=bench-$$"

work=$(mktemp -d)
cleanup() {
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=$label" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

export PARA_BROKER_HOME="$work/vault" PARA_BROKER_KEY_FILE="$work/vault.key" PARA_BROKER_CACHE="$work/cache"
export PARA_BROKER_EXTRA_LABELS="$label"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# A canary login, imported once; the probe is cached before timing starts.
mkdir -p "$work/home/.claude"
printf '%s' '{"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-bench","refreshToken":"sk-ant-ort01-CANARY-test-bench","expiresAt":4102444800000,"scopes":["user:inference"],"subscriptionType":"max"}}' \
  > "$work/home/.claude/.credentials.json"
printf '%s' '{"hasCompletedOnboarding":true,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-00000000be00","emailAddress":"canary-test-bench@example.com"}}' \
  > "$work/home/.claude.json"
"$broker" import --from-dir "$work/home" --name bench >/dev/null
"$broker" probe "$image" >/dev/null

uid=$(docker run --rm --entrypoint id "$image" -u)
gid=$(docker run --rm --entrypoint id "$image" -g)
home=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$image" | sed -n 's/^HOME=//p')
[ -n "$home" ] || home=/root

# The same tree the broker renders, as a tar made once (the CLI path does not even pay for rendering).
mkdir -p "$work/tree/.para-broker/claude"
cp "$work/home/.claude/.credentials.json" "$work/tree/.para-broker/claude/.credentials.json"
cp "$work/home/.claude.json" "$work/tree/.para-broker/claude/.claude.json"
chmod 700 "$work/tree/.para-broker" "$work/tree/.para-broker/claude"
chmod 600 "$work/tree/.para-broker/claude/.credentials.json" "$work/tree/.para-broker/claude/.claude.json"
tar -C "$work/tree" --numeric-owner --owner="$uid" --group="$gid" -cf "$work/tree.tar" .para-broker

broker_total=0
i=0
while [ "$i" -lt "$rounds" ]; do
  t0=$(now_ms)
  "$broker" mount --image "$image" --session "bench-$$-$i" >/dev/null
  t1=$(now_ms)
  broker_total=$((broker_total + t1 - t0))
  "$broker" release --session "bench-$$-$i" --no-sync
  i=$((i + 1))
done

cli_total=0
i=0
while [ "$i" -lt "$rounds" ]; do
  vol="pb-bench-$$-$i"
  t0=$(now_ms)
  docker volume create --label "$label" "$vol" >/dev/null
  id=$(docker create --label "$label" --network none --mount "type=volume,src=$vol,dst=$home/.para-broker" "$image" true)
  docker cp - "$id:$home" < "$work/tree.tar"
  docker rm "$id" >/dev/null
  t1=$(now_ms)
  cli_total=$((cli_total + t1 - t0))
  docker volume rm "$vol" >/dev/null
  i=$((i + 1))
done

broker_ms=$((broker_total / rounds))
cli_ms=$((cli_total / rounds))
echo "image $image, $rounds rounds"
echo "para-broker mount (cached probe): ${broker_ms} ms"
echo "docker CLI (volume create, create, cp, rm): ${cli_ms} ms"
awk -v b="$broker_total" -v c="$cli_total" 'BEGIN { printf "ratio: %.2f (goal <= 0.50)\n", b / c }'
