#!/bin/sh
# Cold versus cached `para-broker probe` on one image.
#   bench/probe_bench.sh [PARA_BROKER_BINARY] [IMAGE] [RUNS]
# Cold runs use --refresh (a probe container every time); cached runs read the
# report from PARA_BROKER_CACHE. Prints mean milliseconds and the ratio.
set -eu
bin=${1:-para-broker}
image=${2:-pb-test/claude-2x-root:latest}
runs=${3:-10}
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export PARA_BROKER_CACHE="$cache/cache"

now_ns() { date +%s%N; }
measure() { # args: para-broker arguments; prints total nanoseconds of $runs runs
  total=0
  i=0
  while [ "$i" -lt "$runs" ]; do
    t0=$(now_ns)
    "$bin" "$@" >/dev/null
    t1=$(now_ns)
    total=$((total + t1 - t0))
    i=$((i + 1))
  done
  echo "$total"
}

"$bin" probe "$image" >/dev/null  # warm the daemon's image cache and our cache
cold=$(measure probe "$image" --refresh)
cached=$(measure probe "$image")
cold_ms=$((cold / runs / 1000000))
cached_us=$((cached / runs / 1000))
ratio=$((cold / (cached > 0 ? cached : 1)))
echo "image:       $image ($runs runs each)"
echo "cold probe:  ${cold_ms} ms mean"
echo "cached:      ${cached_us} us mean"
echo "speed-up:    ${ratio}x"
[ "$cold_ms" -lt 2000 ] || { echo "FAIL: a cold probe takes 2 s or more" >&2; exit 1; }
[ "$ratio" -ge 50 ] || { echo "FAIL: the cache is less than 50x faster" >&2; exit 1; }
