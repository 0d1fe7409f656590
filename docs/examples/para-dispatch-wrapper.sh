#!/usr/bin/env bash
# What `para dispatch --container` does with para-broker (docs/para-integration.md),
# as a wrapper around the docker CLI.
#
#   para-dispatch-wrapper.sh start SESSION IMAGE WORKTREE   mount, docker create, docker start
#   para-dispatch-wrapper.sh finish SESSION                 docker stop, release (write-back), docker rm
#   para-dispatch-wrapper.sh cancel SESSION                 docker stop, release --no-sync, docker rm
#
# PARA_BROKER_CREDENTIAL chooses the credential (default: the only one stored).
# Exit codes: para-broker's (docs/para-integration.md), or docker's.
set -euo pipefail

die() {
  printf 'para-dispatch-wrapper: %s\n' "$*" >&2
  exit 1
}

start() {
  local session=$1 image=$2 worktree=$3 line rc=0
  local credential=()
  if [[ -n ${PARA_BROKER_CREDENTIAL:-} ]]; then credential=(--credential "$PARA_BROKER_CREDENTIAL"); fi

  # 1. The session's volume and the arguments that attach it. para-broker has
  #    already said why on stderr when this fails. (`|| rc=$?`, not `if !`:
  #    inside `if ! …; then` $? is the negation's 0, not para-broker's code.)
  line=$(para-broker mount --image "$image" --session "$session" "${credential[@]}" --format args) || rc=$?
  if ((rc != 0)); then
    # Nothing started, nothing to write back.
    para-broker release --session "$session" --no-sync >/dev/null 2>&1 || true
    exit "$rc"
  fi
  # The line is shell-quoted by para-broker: let the shell split it, nothing else.
  local mount_args
  eval "mount_args=($line)"

  # 2. The container, exactly as para creates it, plus the broker's arguments.
  docker create --name "para-$session" "${mount_args[@]}" \
    -v "$worktree:/workspace" -w /workspace "$image" sleep infinity >/dev/null || rc=$?
  if ((rc == 0)); then docker start "para-$session" >/dev/null || rc=$?; fi
  if ((rc != 0)); then
    # The container never ran, so Claude never refreshed anything: no write-back.
    docker rm -f "para-$session" >/dev/null 2>&1 || true
    para-broker release --session "$session" --no-sync >/dev/null 2>&1 || true
    printf 'para-dispatch-wrapper: could not start container para-%s (docker exit %d)\n' "$session" "$rc" >&2
    exit "$rc"
  fi
  printf 'para-%s\n' "$session"
}

end() { # session, then "" (write back) or --no-sync
  local session=$1 no_sync=${2:-} rc=0
  # Stop first, so Claude Code is not writing while its state is copied back.
  docker stop --time 10 "para-$session" >/dev/null 2>&1 || true
  if [[ -n $no_sync ]]; then
    para-broker release --session "$session" --no-sync || rc=$?
  else
    para-broker release --session "$session" || rc=$?
  fi
  docker rm -f "para-$session" >/dev/null 2>&1 || true
  if ((rc != 0)); then
    # Nothing is lost: the volume stays; a later release or `para-broker gc` finishes the job.
    printf 'para-dispatch-wrapper: release of session %s failed (exit %d); run: para-broker release --session %s\n' \
      "$session" "$rc" "$session" >&2
    exit "$rc"
  fi
}

case ${1:-} in
start)
  (($# == 4)) || die "usage: $0 start SESSION IMAGE WORKTREE"
  start "$2" "$3" "$4"
  ;;
finish)
  (($# == 2)) || die "usage: $0 finish SESSION"
  end "$2"
  ;;
cancel)
  (($# == 2)) || die "usage: $0 cancel SESSION"
  end "$2" --no-sync
  ;;
*) die "usage: $0 start SESSION IMAGE WORKTREE | finish SESSION | cancel SESSION" ;;
esac
