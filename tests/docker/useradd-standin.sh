#!/bin/sh
# Stand-in for shadow's useradd and busybox's adduser in the locally imported
# test bases (the host's busybox-static has neither): supports what
# docker/Dockerfile.* use. Installed as both /usr/sbin/useradd and /usr/sbin/adduser.
set -eu
uid="" home="" shell=/bin/sh
while [ $# -gt 1 ]; do
  case $1 in
  -m | --create-home | -U | --user-group | -l | -D) shift ;;
  -u | --uid) uid=$2; shift 2 ;;
  -d | --home-dir | -h) home=$2; shift 2 ;;
  -s | --shell) shell=$2; shift 2 ;;
  *) echo "useradd stand-in: unsupported option $1" >&2; exit 2 ;;
  esac
done
name=$1
uid=${uid:-1000}
home=${home:-/home/$name}
printf '%s:x:%s:%s:%s:%s:%s\n' "$name" "$uid" "$uid" "$name" "$home" "$shell" >>/etc/passwd
printf '%s:x:%s:\n' "$name" "$uid" >>/etc/group
mkdir -p "$home"
chown "$uid:$uid" "$home"
