#!/usr/bin/env bash
# What `para dispatch --container` does with para-broker (docs/para-integration.md),
# as a wrapper around the docker CLI.
#
#   para-dispatch-wrapper.sh start SESSION IMAGE WORKTREE   mount, docker create, docker start
#   para-dispatch-wrapper.sh finish SESSION                 docker stop, docker rm, release (write-back)
#   para-dispatch-wrapper.sh cancel SESSION                 the same: a cancelled session's Claude may
#                                                           have refreshed (rotated) its login too
#
# PARA_BROKER_CREDENTIAL chooses the credential (default: the only one stored).
# PARA_DOCKER_ARGS: more `docker create` arguments, split on blanks (para's
# --docker-args, its network flags and forwarded keys go there).
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
  local para_args=()
  if [[ -n ${PARA_DOCKER_ARGS:-} ]]; then read -ra para_args <<<"$PARA_DOCKER_ARGS"; fi
  docker create --name "para-$session" "${para_args[@]}" "${mount_args[@]}" \
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

end() { # session: finish and cancel alike
  local session=$1 rc=0
  # Stop first, so Claude Code is not writing while its state is copied back;
  # remove the container before the release, so the release can remove the
  # volume too (Docker keeps a volume any container still names).
  docker stop --time 10 "para-$session" >/dev/null 2>&1 || true
  docker rm -f "para-$session" >/dev/null 2>&1 || true
  # Always with write-back: the session's Claude may have refreshed its login,
  # which revokes the vault's copy of the refresh token.
  para-broker release --session "$session" || rc=$?
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
finish | cancel)
  (($# == 2)) || die "usage: $0 $1 SESSION"
  end "$2"
  ;;
*) die "usage: $0 start SESSION IMAGE WORKTREE | finish SESSION | cancel SESSION" ;;
esac
