#!/usr/bin/env bash
# Builds the offline test images (see README.md beside this file) from host
# files and npm packages, without any registry. Every image is labelled
# para-broker.test=images and para-broker.test-image=<name>, and carries a
# content hash of its inputs (para-broker.test-input) so that an image whose
# inputs did not change is not rebuilt.
#
#   tests/images/build.sh [NAME...]   build NAME (and what it is built on); all by default
#   tests/images/build.sh --list      print the image names, one a line
#   tests/images/build.sh --ref NAME  print the image reference of NAME
#   tests/images/build.sh --remove    remove every image this script made
#
# Environment: PB_TEST_CACHE (default /var/cache/para-broker-test) holds the
# npm tarballs (npm/) and is never inside the checkout.
set -euo pipefail
shopt -s nullglob

readonly k_label=para-broker.test
readonly k_label_value=images
readonly k_repo=pb-test
readonly k_claude_js_version=1.0.31
readonly k_claude_native_version=2.1.332
readonly k_standin_version=1.0.40
readonly k_para_version=0.1.0-test
readonly k_epoch=@946684800 # fixed mtime of every file, for reproducible layers

cache_dir=${PB_TEST_CACHE:-/var/cache/para-broker-test}
npm_cache=$cache_dir/npm
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=""

log() { printf 'images: %s\n' "$*" >&2; }
die() {
  printf 'images: error: %s\n' "$*" >&2
  exit 1
}
cleanup() { if [[ -n "$work" ]]; then rm -rf "$work"; fi; }
trap cleanup EXIT

ref() { printf '%s/%s:latest' "$k_repo" "$1"; }

# ---------------------------------------------------------------------------
# Image table: name, parent ("-" for an imported root), layer functions,
# and the image configuration (Dockerfile instructions besides FROM/ADD).
# ---------------------------------------------------------------------------
declare -A parent layers config
names=()
define() { # name parent "layer_fn..." "config lines"
  names+=("$1")
  parent[$1]=$2
  layers[$1]=$3
  config[$1]=$4
}

root_cfg=$'USER root\nENV HOME=/root\nWORKDIR /root'
path_env='ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'

# The root file system: glibc and the libraries of every host binary used
# below, coreutils env (with -S), /etc/passwd for root. No shell.
define base - "" "$path_env"$'\n'"$root_cfg"
define shell base "layer_shell" "$root_cfg"
define no-claude shell "" "$root_cfg"
define node shell "layer_node" "$root_cfg"
define claude-1031-root node "layer_claude_js" "$root_cfg"
define claude-1031-xdg claude-1031-root "" "$root_cfg"$'\nENV XDG_CONFIG_HOME=/root/.config'
define claude-1031-configdir claude-1031-root "" "$root_cfg"$'\nENV CLAUDE_CONFIG_DIR=/opt/claude-config'
define claude-1031-dev claude-1031-root "layer_user_dev" $'USER dev\nENV HOME=/home/dev\nWORKDIR /home/dev'
define para-claude claude-1031-root "layer_user_para" \
  $'USER para\nENV HOME=/home/para\nWORKDIR /home/para\nLABEL para.version='"$k_para_version"
# Two more users for sessions of one login across four users (root, para,
# these two): uid 1001 with XDG_CONFIG_HOME, uid 1002 with CLAUDE_CONFIG_DIR.
define claude-1031-xdg-1001 claude-1031-root "layer_user_1001" \
  $'USER u1001\nENV HOME=/home/u1001\nENV XDG_CONFIG_HOME=/home/u1001/.config\nWORKDIR /home/u1001'
define claude-1031-configdir-1002 claude-1031-root "layer_user_1002" \
  $'USER u1002\nENV HOME=/home/u1002\nENV CLAUDE_CONFIG_DIR=/home/u1002/claude-config\nWORKDIR /home/u1002'
define no-shell base "layer_claude_native" "$root_cfg"
define claude-2x-root no-shell "layer_shell" "$root_cfg"
define claude-2x-xdg claude-2x-root "" "$root_cfg"$'\nENV XDG_CONFIG_HOME=/root/.config'
define claude-2x-configdir claude-2x-root "" "$root_cfg"$'\nENV CLAUDE_CONFIG_DIR=/opt/claude-config'
define claude-2x-dev claude-2x-root "layer_user_dev" \
  $'USER dev\nENV HOME=/home/dev\nWORKDIR /home/dev'
define claude-2x-xdg-1001 claude-2x-root "layer_user_1001" \
  $'USER u1001\nENV HOME=/home/u1001\nENV XDG_CONFIG_HOME=/home/u1001/.config\nWORKDIR /home/u1001'
define claude-2x-configdir-1002 claude-2x-root "layer_user_1002" \
  $'USER u1002\nENV HOME=/home/u1002\nENV CLAUDE_CONFIG_DIR=/home/u1002/claude-config\nWORKDIR /home/u1002'
define para-claude-2x claude-2x-root "layer_user_para" \
  $'USER para\nENV HOME=/home/para\nWORKDIR /home/para\nLABEL para.version='"$k_para_version"
# para's own image as docker/Dockerfile.para-claude builds it: user para with
# passwordless sudo (the sudoers line; no sudo binary offline), WORKDIR
# /workspace, para's secure entrypoint and shim (docker/para/), bash.
define para-claude-2x-entrypoint para-claude-2x "layer_para_image" \
  $'USER para\nENV HOME=/home/para\nWORKDIR /workspace\nLABEL para.version=1.2.0 para.secure-entrypoint=true\nENTRYPOINT ["/usr/local/bin/secure-entrypoint.sh"]\nCMD ["/bin/bash"]'
define standin-login shell "layer_standin" "$root_cfg"
# Stand-ins for para-authenticated:latest: a login committed into a layer, and
# the same with a later layer deleting it (the secret stays in the lower layer).
define authed-layer claude-2x-root "layer_baked_login" "$root_cfg"
define authed-whiteout authed-layer "" "$root_cfg"$'\nRUN ["/bin/rm", "-f", "/root/.claude/.credentials.json", "/root/.claude.json"]'

# ---------------------------------------------------------------------------
# Helpers that stage files into a root directory ($1).
# ---------------------------------------------------------------------------

# Where a host library goes in the image (merged /usr, as on Debian 12).
image_path() {
  case $1 in
  /lib/* | /lib64/* | /bin/* | /sbin/*) printf '/usr%s' "$1" ;;
  *) printf '%s' "$1" ;;
  esac
}

# The shared libraries (absolute paths) that ldd lists for the given files.
libs_of() {
  local f
  for f in "$@"; do
    ldd "$f" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }'
  done | sort -u
}

# Copies host files (dereferenced) to the same place in root $1.
copy_host() {
  local root=$1 f dst
  shift
  for f in "$@"; do
    dst=$root$(image_path "$f")
    mkdir -p "$(dirname "$dst")"
    cp -L --preserve=mode "$f" "$dst"
  done
}

# glibc itself: in the base image, so that every later layer brings only its own.
readonly k_glibc='libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 ld-linux-x86-64.so.2'
is_glibc() { [[ " $k_glibc " == *" $(basename "$1") "* ]]; }
glibc_files() {
  local name
  for name in $k_glibc; do
    if [[ -e /lib/x86_64-linux-gnu/$name ]]; then printf '/lib/x86_64-linux-gnu/%s\n' "$name"; fi
  done
  printf '/lib64/ld-linux-x86-64.so.2\n'
}

# Copies the non-glibc libraries of the given binaries into root $1.
copy_libs() {
  local root=$1 lib
  shift
  for lib in $(libs_of "$@"); do
    is_glibc "$lib" || copy_host "$root" "$lib"
  done
}

# Writes a reproducible tar of directory $1 to $2; files owned by root except
# the subtrees listed in $3 as "path:uid:gid" (relative to $1).
make_tar() {
  local dir=$1 out=$2 owners=${3:-} spec path uid gid excludes=()
  for spec in $owners; do excludes+=("--exclude=./${spec%%:*}"); done
  tar -C "$dir" --sort=name --mtime="$k_epoch" --owner=0 --group=0 --numeric-owner \
    --format=gnu "${excludes[@]}" -cf "$out" .
  for spec in $owners; do
    IFS=: read -r path uid gid <<<"$spec"
    tar -C "$dir" --sort=name --mtime="$k_epoch" --owner="$uid" --group="$gid" --numeric-owner \
      --format=gnu -rf "$out" "./$path"
  done
}

unpack_npm() { # tarball dest: npm's layout of a package (its "package/" folder)
  mkdir -p "$2"
  tar -xzf "$1" -C "$2" --strip-components=1 --no-same-owner
  chmod -R u+rwX,go+rX,go-w "$2"
}

# ---------------------------------------------------------------------------
# Inputs: host binaries and npm tarballs.
# ---------------------------------------------------------------------------
host_busybox() { command -v busybox >/dev/null || die "busybox-static is not installed"; readlink -f /bin/busybox; }
host_bash() { readlink -f /bin/bash; }
host_env() { readlink -f /usr/bin/env; }
host_node() { [[ -x /usr/bin/node ]] || die "/usr/bin/node is missing (install nodejs)"; readlink -f /usr/bin/node; }

npm_tarball() { # package version -> path in the cache, fetched with npm pack when missing
  local pkg=$1 version=$2 file
  file=$npm_cache/$(printf '%s' "${pkg#@}" | tr / -)-$version.tgz
  if [[ ! -s $file ]]; then
    mkdir -p "$npm_cache"
    log "fetching $pkg@$version with npm pack"
    (cd "$npm_cache" && npm pack --silent "$pkg@$version" >/dev/null) || die "npm pack $pkg@$version failed"
    [[ -s $file ]] || die "npm pack did not produce $file"
  fi
  printf '%s\n' "$file"
}
tgz_js() { npm_tarball @anthropic-ai/claude-code "$k_claude_js_version"; }
tgz_wrapper() { npm_tarball @anthropic-ai/claude-code "$k_claude_native_version"; }
tgz_native() { npm_tarball @anthropic-ai/claude-code-linux-x64 "$k_claude_native_version"; }

# Files whose content a layer depends on (hashed for the skip check).
inputs_of() {
  case $1 in
  base) host_env; glibc_files; libs_of "$(host_env)" ;;
  layer_shell) host_busybox; host_bash; libs_of "$(host_bash)" ;;
  layer_node) host_node; libs_of "$(host_node)" ;;
  layer_claude_js) tgz_js ;;
  layer_claude_native) tgz_wrapper; tgz_native ;;
  layer_para_image) printf '%s\n' "$script_dir"/../../docker/para/*.sh ;;
  *) ;;
  esac
}

# ---------------------------------------------------------------------------
# Layers. Each stages a root directory $1 (and may print owner specs).
# ---------------------------------------------------------------------------
passwd_root() {
  mkdir -p "$1/etc"
  printf 'root:x:0:0:root:/root:%s\n' "$2" >"$1/etc/passwd"
  printf 'root:x:0:\n' >"$1/etc/group"
}

stage_base() {
  local root=$1
  mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{etc,root,tmp,home,opt,var/tmp} "$root/usr/local/bin"
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 0700 "$root/root"
  # shellcheck disable=SC2046 # one path a line, none with spaces
  copy_host "$root" "$(host_env)" $(glibc_files)
  copy_libs "$root" "$(host_env)"
  passwd_root "$root" /bin/sh
}

layer_shell() {
  local root=$1 applet
  copy_host "$root" "$(host_bash)"
  copy_libs "$root" "$(host_bash)"
  cp "$(host_busybox)" "$root/usr/bin/busybox"
  for applet in $("$(host_busybox)" --list); do
    case $applet in env | bash | busybox) continue ;; esac
    ln -s busybox "$root/usr/bin/$applet"
  done
  passwd_root "$root" /bin/bash
}

layer_node() {
  local root=$1
  mkdir -p "$root/usr/bin"
  cp -L "$(host_node)" "$root/usr/bin/node"
  copy_libs "$root" "$(host_node)"
}

# @anthropic-ai/claude-code 1.0.x as `npm install -g` lays it out. Its
# optional @img/sharp-* dependencies (image pasting) are left out.
layer_claude_js() {
  local root=$1 pkg=$1/usr/local/lib/node_modules/@anthropic-ai/claude-code
  unpack_npm "$(tgz_js)" "$pkg"
  chmod 0755 "$pkg/cli.js"
  mkdir -p "$root/usr/local/bin"
  ln -s ../lib/node_modules/@anthropic-ai/claude-code/cli.js "$root/usr/local/bin/claude"
}

# @anthropic-ai/claude-code 2.x: the wrapper package plus the platform package
# beside it in the global node_modules; the wrapper's postinstall (install.cjs)
# hard-links the platform package's `claude` over the wrapper's bin/claude.exe
# stub, and npm links /usr/local/bin/claude to bin/claude.exe.
layer_claude_native() {
  local root=$1 mods=$1/usr/local/lib/node_modules/@anthropic-ai
  unpack_npm "$(tgz_wrapper)" "$mods/claude-code"
  unpack_npm "$(tgz_native)" "$mods/claude-code-linux-x64"
  chmod 0755 "$mods/claude-code-linux-x64/claude"
  rm -f "$mods/claude-code/bin/claude.exe"
  ln "$mods/claude-code-linux-x64/claude" "$mods/claude-code/bin/claude.exe"
  mkdir -p "$root/usr/local/bin"
  ln -s ../lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe "$root/usr/local/bin/claude"
  # the native binary's own libraries beyond glibc (none for 2.1.332)
  copy_libs "$root" "$mods/claude-code-linux-x64/claude"
}

# Users other than root. The whole /etc/passwd is written for the image.
user_layer() { # root name uid home
  local root=$1 name=$2 uid=$3 home=$4
  mkdir -p "$root/etc" "$root$home"
  printf 'root:x:0:0:root:/root:/bin/bash\n%s:x:%s:%s:%s:%s:/bin/bash\n' "$name" "$uid" "$uid" "$name" "$home" >"$root/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$name" "$uid" >"$root/etc/group"
  chmod 0755 "$root$home"
  printf '%s\n' "${home#/}:$uid:$uid"
}
layer_user_dev() { user_layer "$1" dev 1234 /home/dev; }
layer_user_para() { user_layer "$1" para 1000 /home/para; }
layer_user_1001() { user_layer "$1" u1001 1001 /home/u1001; }
layer_user_1002() { user_layer "$1" u1002 1002 /home/u1002; }

# What docker/Dockerfile.para-claude adds for para: the sudoers line, para's
# scripts from docker/para/, and a /workspace of para's.
layer_para_image() {
  local root=$1 from=$script_dir/../../docker/para
  mkdir -p "$root/etc" "$root/usr/local/bin" "$root/workspace"
  printf 'root ALL=(ALL:ALL) ALL\npara ALL=(ALL) NOPASSWD:ALL\n' >"$root/etc/sudoers"
  chmod 0440 "$root/etc/sudoers"
  install -m 0755 "$from/init-firewall.sh" "$root/usr/local/bin/init-firewall.sh"
  install -m 0755 "$from/secure-entrypoint.sh" "$root/usr/local/bin/secure-entrypoint.sh"
  install -m 0755 "$from/claude-entrypoint.sh" "$root/usr/local/bin/claude-entrypoint.sh"
  install -m 0755 "$from/para-shim.sh" "$root/usr/local/bin/para"
  chmod 0755 "$root/workspace"
  printf 'workspace:1000:1000\n'
}

# A `claude` that imitates `claude /login` of an npm-js build (see README.md).
layer_standin() {
  local root=$1 pkg=$1/usr/local/lib/node_modules/@anthropic-ai/claude-code
  mkdir -p "$pkg" "$root/usr/local/bin"
  cp "$script_dir/standin-claude.sh" "$pkg/cli.js"
  chmod 0755 "$pkg/cli.js"
  printf '{\n  "name": "@anthropic-ai/claude-code",\n  "version": "%s",\n  "bin": {\n    "claude": "cli.js"\n  },\n  "description": "Stand-in for Claude Code (test image): imitates claude /login only"\n}\n' \
    "$k_standin_version" >"$pkg/package.json"
  ln -s ../lib/node_modules/@anthropic-ai/claude-code/cli.js "$root/usr/local/bin/claude"
}

# A login committed into a layer, as `docker commit` after `claude /login`
# leaves it in para-authenticated:latest. The tokens are test canaries.
layer_baked_login() {
  local root=$1
  mkdir -p "$root/root/.claude"
  chmod 0700 "$root/root" "$root/root/.claude"
  cat >"$root/root/.claude/.credentials.json" <<'EOF'
{"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-baked-access","refreshToken":"sk-ant-ort01-CANARY-test-baked-refresh","expiresAt":1790000000000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}
EOF
  chmod 0600 "$root/root/.claude/.credentials.json"
  cat >"$root/root/.claude.json" <<'EOF'
{"hasCompletedOnboarding":true,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-000000000001","emailAddress":"canary-test@example.com","organizationUuid":"00000000-0000-4000-8000-000000000002","organizationName":"Canary Test Org"}}
EOF
}

# ---------------------------------------------------------------------------
# Building.
# ---------------------------------------------------------------------------
declare -A input_hash

# Content hash of an image's inputs: its parent's hash, its recipe (the code of
# its layer functions and its configuration) and the content of its input files.
compute_hash() {
  local name=$1
  if [[ -n "${input_hash[$name]:-}" ]]; then return 0; fi
  local p=${parent[$name]} fn
  if [[ $p != - ]]; then compute_hash "$p"; fi
  input_hash[$name]=$(
    {
      printf 'name %s\nparent %s\nconfig %s\n' "$name" "${input_hash[$p]:-none}" "${config[$name]}"
      declare -f make_tar image_path copy_host copy_libs is_glibc glibc_files libs_of unpack_npm passwd_root user_layer
      if [[ $name == base ]]; then
        declare -f stage_base
        inputs_of base | xargs -r sha256sum
      fi
      for fn in ${layers[$name]}; do
        declare -f "$fn"
        inputs_of "$fn" | xargs -r sha256sum
      done
      if [[ ${layers[$name]} == *layer_standin* ]]; then sha256sum "$script_dir/standin-claude.sh"; fi
    } | sha256sum | cut -c1-64
  )
}

image_hash() { docker image inspect --format '{{index .Config.Labels "para-broker.test-input"}}' "$1" 2>/dev/null || true; }

labels_for() {
  printf 'LABEL %s=%s para-broker.test-image=%s para-broker.test-input=%s\n' \
    "$k_label" "$k_label_value" "$1" "${input_hash[$1]}"
}

declare -A done_images
build_one() {
  local name=$1
  if [[ -n "${done_images[$name]:-}" ]]; then return 0; fi
  [[ -n "${parent[$name]:-}" ]] || die "unknown image '$name' (see --list)"
  local p=${parent[$name]}
  if [[ $p != - ]]; then build_one "$p"; fi
  compute_hash "$name"
  done_images[$name]=1
  local r
  r=$(ref "$name")
  if [[ "$(image_hash "$r")" == "${input_hash[$name]}" ]]; then
    log "$r is up to date"
    return 0
  fi
  local started=$SECONDS
  local ctx=$work/$name
  mkdir -p "$ctx"
  if [[ $p == - ]]; then
    mkdir -p "$ctx/root"
    stage_base "$ctx/root"
    make_tar "$ctx/root" "$ctx/layer.tar"
    local changes=() line
    while IFS= read -r line; do if [[ -n $line ]]; then changes+=(--change "$line"); fi; done <<<"${config[$name]}
$(labels_for "$name")"
    docker import "${changes[@]}" "$ctx/layer.tar" "$r" >/dev/null
  else
    {
      printf 'FROM %s\n' "$(ref "$p")"
      local fn i=0 owners
      for fn in ${layers[$name]}; do
        mkdir -p "$ctx/l$i"
        owners=$("$fn" "$ctx/l$i")
        make_tar "$ctx/l$i" "$ctx/layer$i.tar" "$owners"
        rm -rf "$ctx/l$i"
        printf 'ADD layer%d.tar /\n' "$i"
        i=$((i + 1))
      done
      printf '%s\n' "${config[$name]}"
      labels_for "$name"
    } >"$ctx/Dockerfile.tmp"
    mv "$ctx/Dockerfile.tmp" "$ctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker build --quiet --network none --force-rm -t "$r" "$ctx" >/dev/null 2>"$ctx/build.err" ||
      die "docker build of $r failed: $(cat "$ctx/build.err")"
  fi
  rm -rf "$ctx"
  log "built $r in $((SECONDS - started))s"
}

remove_all() {
  local i name
  # children before parents, so that untagged parents go with them
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    name=${names[$i]}
    if docker image inspect "$(ref "$name")" >/dev/null 2>&1; then docker rmi -f "$(ref "$name")" >/dev/null; fi
  done
  # anything else labelled by this builder (e.g. left over from an older layout)
  local ids
  ids=$(docker images -q --filter "label=$k_label=$k_label_value" | sort -u)
  if [[ -n "$ids" ]]; then docker rmi -f $ids >/dev/null 2>&1 || true; fi
  return 0
}

main() {
  case ${1:-} in
  --list)
    printf '%s\n' "${names[@]}"
    return 0
    ;;
  --ref)
    [[ -n "${parent[${2:-}]:-}" ]] || die "unknown image '${2:-}'"
    ref "$2"
    echo
    return 0
    ;;
  --remove)
    remove_all
    return 0
    ;;
  -h | --help)
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    return 0
    ;;
  esac
  command -v docker >/dev/null || die "the docker CLI is not installed"
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "the Docker daemon does not answer"
  mkdir -p "$cache_dir"
  # one build at a time per cache (parallel ctest runs share the images)
  exec 9>"$cache_dir/.build.lock"
  flock 9
  work=$(mktemp -d "${TMPDIR:-/var/tmp}/pb-images.XXXXXX")
  local started=$SECONDS name
  local wanted=("$@")
  ((${#wanted[@]})) || wanted=("${names[@]}")
  for name in "${wanted[@]}"; do build_one "$name"; done
  log "done in $((SECONDS - started))s"
}

main "$@"
