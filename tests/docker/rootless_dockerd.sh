#!/usr/bin/env bash
# A rootless Docker daemon for one test (tests/docker/rootless_test.cpp), as
# Docker documents it: dockerd-rootless.sh run by an unprivileged user with
# subordinate ids, through rootlesskit, in user, mount and network namespaces
# of its own. Run as root.
#
#   rootless_dockerd.sh start          prints the directory of the daemon; its
#                                      socket is DIR/run/docker.sock
#   rootless_dockerd.sh stop DIR       stops it and removes DIR
#
# The user (pbrootless) and its subordinate ids are made when missing. The
# daemon has no bridge and no port driver (--net=host for rootlesskit): its
# containers can use --network none, and the test's keepers need no network.
set -euo pipefail

user=pbrootless
script=/usr/share/docker.io/contrib/dockerd-rootless.sh

fail() {
  echo "rootless_dockerd: $*" >&2
  exit 1
}

ensure_user() {
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  fi
  local f
  for f in /etc/subuid /etc/subgid; do
    grep -q "^$user:" "$f" 2>/dev/null || echo "$user:300000:65536" >>"$f"
  done
}

start() {
  [ "$(id -u)" -eq 0 ] || fail "run as root"
  for tool in "$script" rootlesskit newuidmap newgidmap setpriv; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || fail "missing $tool"
  done
  ensure_user
  local dir
  dir=$(mktemp -d /tmp/pb-rootless.XXXXXX)
  chmod 0755 "$dir"
  mkdir -p "$dir/home" "$dir/run"
  chown "$user:" "$dir/home" "$dir/run"
  chmod 0700 "$dir/home" "$dir/run"
  setpriv --reuid="$user" --regid="$user" --init-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run" \
    DOCKERD_ROOTLESS_ROOTLESSKIT_NET=host DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=none \
    setsid "$script" --iptables=false --bridge=none >"$dir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  local i
  for i in $(seq 1 150); do
    if [ -S "$dir/run/docker.sock" ] && DOCKER_HOST="unix://$dir/run/docker.sock" docker version >/dev/null 2>&1; then
      echo "$dir"
      return 0
    fi
    sleep 0.2
  done
  tail -n 20 "$dir/dockerd.log" >&2 || true
  stop "$dir"
  fail "the rootless daemon did not answer within 30 s"
}

stop() {
  local dir=$1
  case "$dir" in /tmp/pb-rootless.*) ;; *) fail "not a directory this script made: $dir" ;; esac
  [ -d "$dir" ] || return 0
  if [ -f "$dir/pid" ]; then
    local pid
    pid=$(cat "$dir/pid")
    # setsid made the script (then rootlesskit) the leader of a process group;
    # dockerd stops its containerd and containers on SIGTERM.
    kill -TERM -- "-$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  # containerd and its shims run in process groups of their own, as the user.
  pkill -KILL -u "$user" 2>/dev/null || true
  sleep 0.2
  rm -rf --one-file-system "$dir" 2>/dev/null || rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:?stop needs the directory}" ;;
*) fail "usage: rootless_dockerd.sh start | stop DIR" ;;
esac
