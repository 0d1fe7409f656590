#!/bin/sh
# Stand-in for shadow's useradd in the locally imported test bases (busybox has
# only adduser): supports what docker/Dockerfile.* use.
set -eu
uid="" home="" shell=/bin/sh
while [ $# -gt 1 ]; do
  case $1 in
  -m | --create-home | -U | --user-group | -l) shift ;;
  -u | --uid) uid=$2; shift 2 ;;
  -d | --home-dir) home=$2; shift 2 ;;
  -s | --shell) shell=$2; shift 2 ;;
  *) echo "useradd stand-in: unsupported option $1" >&2; exit 2 ;;
  esac
done
name=$1
exec adduser -D ${uid:+-u "$uid"} -h "${home:-/home/$name}" -s "$shell" "$name"
