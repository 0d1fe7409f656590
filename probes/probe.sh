# shellcheck shell=sh
# para-broker probe: prints facts about this container as one JSON object on
# stdout. Runs under any POSIX sh (busybox ash, dash, bash); reads, never
# writes, and never runs claude. The arguments come from probes/knowledge.json:
#   -p NAME   npm package name to look for (@anthropic-ai/claude-code)
#   -v VAR    report the value of environment variable VAR
#   -s VAR    report only whether VAR is set (secrets: never their value)
#   -n DIR    node_modules directory template to search (may contain globs)
#   -l PATH   native installer link template (~/.local/bin/claude)
#   -e PATH   report whether PATH exists and whether it contains the marker
#   -m WORD   the marker word for -e files (apiKeyHelper)
# Templates use ${VAR} only; para-broker validates them before passing them.

pb_pkg=
pb_marker=
pb_vars=
pb_secrets=
pb_nm=
pb_links=
pb_checks=
pb_nl='
'

pb_valid_name() {
  case $1 in
    '' | [0-9]* | *[!A-Za-z0-9_]*) return 1 ;;
  esac
  return 0
}

# Templates may only reference ${VAR}: no $(...), backquotes or quotes.
pb_valid_template() {
  # shellcheck disable=SC2016,SC1003
  case $1 in
    *'$('* | *'`'* | *'"'* | *"'"* | *'\'*) return 1 ;;
  esac
  return 0
}

while [ $# -ge 2 ]; do
  case $1 in
    -p) pb_pkg=$2 ;;
    -m) pb_marker=$2 ;;
    -v) pb_valid_name "$2" && pb_vars="$pb_vars$2$pb_nl" ;;
    -s) pb_valid_name "$2" && pb_secrets="$pb_secrets$2$pb_nl" ;;
    -n) pb_valid_template "$2" && pb_nm="$pb_nm$2$pb_nl" ;;
    -l) pb_valid_template "$2" && pb_links="$pb_links$2$pb_nl" ;;
    -e) pb_valid_template "$2" && pb_checks="$pb_checks$2$pb_nl" ;;
  esac
  shift 2
done

# JSON string of $1 in pb_j; control characters become '?'; over-long
# values become null.
pb_json() {
  if [ ${#1} -gt 4096 ]; then
    pb_j=null
    return
  fi
  case $1 in
    *[[:cntrl:]\\\"]*) ;;
    *)
      pb_j="\"$1\""
      return
      ;;
  esac
  pb_s=$1
  pb_o=
  while [ -n "$pb_s" ]; do
    pb_r=${pb_s#?}
    pb_c=${pb_s%"$pb_r"}
    pb_s=$pb_r
    case $pb_c in
      \\) pb_o="$pb_o\\\\" ;;
      \") pb_o="$pb_o\\\"" ;;
      [[:cntrl:]]) pb_o="$pb_o?" ;;
      *) pb_o="$pb_o$pb_c" ;;
    esac
  done
  pb_j="\"$pb_o\""
}

# Prints nothing; sets pb_j to a JSON string or null.
pb_json_opt() {
  if [ -n "$1" ]; then pb_json "$1"; else pb_j=null; fi
}

pb_expand() {
  pb_x=
  eval "pb_x=\"$1\""
}

pb_has_readlink=false
command -v readlink >/dev/null 2>&1 && pb_has_readlink=true

# Resolves symlinks of $1 into pb_res (empty when it cannot).
pb_resolve() {
  pb_res=
  [ "$pb_has_readlink" = true ] || return 0
  pb_res=$(readlink -f -- "$1" 2>/dev/null) || pb_res=$(readlink -f "$1" 2>/dev/null) || pb_res=
}

# Reads "KEY": "value" (first occurrence) from a package.json into pb_v.
pb_pkg_field() {
  pb_v=
  pb_n=0
  while IFS= read -r pb_line || [ -n "$pb_line" ]; do
    pb_n=$((pb_n + 1))
    [ $pb_n -gt 400 ] && return 1
    case $pb_line in
      *"\"$2\""*)
        pb_t=${pb_line#*\""$2"\"}
        case $pb_t in
          *:*\"*\"*) ;;
          *) continue ;;
        esac
        pb_t=${pb_t#*\"}
        pb_v=${pb_t%%\"*}
        return 0
        ;;
    esac
  done <"$1"
  return 1
}

# --- who runs -------------------------------------------------------------
pb_uid=$(id -u 2>/dev/null) || pb_uid=
pb_gid=$(id -g 2>/dev/null) || pb_gid=
if [ -z "$pb_uid" ] || [ -z "$pb_gid" ]; then
  if [ -r /proc/self/status ]; then
    # shellcheck disable=SC2034
    while read -r pb_k pb_a pb_rest; do
      case $pb_k in
        Uid:) [ -n "$pb_uid" ] || pb_uid=$pb_a ;;
        Gid:) [ -n "$pb_gid" ] || pb_gid=$pb_a ;;
      esac
    done </proc/self/status
  fi
fi
case $pb_uid in '' | *[!0-9]*) pb_uid=null ;; esac
case $pb_gid in '' | *[!0-9]*) pb_gid=null ;; esac

pb_user=
pb_pw_home=
pb_pw_found=false
if [ -r /etc/passwd ] && [ "$pb_uid" != null ]; then
  # shellcheck disable=SC2034
  while IFS=: read -r pb_pn pb_pp pb_pu pb_pg pb_pc pb_ph pb_ps; do
    if [ "$pb_pu" = "$pb_uid" ]; then
      pb_user=$pb_pn
      pb_pw_home=$pb_ph
      pb_pw_found=true
      break
    fi
  done </etc/passwd
fi
if [ -z "$pb_user" ]; then
  pb_user=$(id -un 2>/dev/null) || pb_user=
fi

pb_out='{"probe":1'
pb_out="$pb_out,\"uid\":$pb_uid,\"gid\":$pb_gid"
pb_json_opt "$pb_user"
pb_out="$pb_out,\"user\":$pb_j"
if [ -n "${HOME+x}" ]; then pb_json "$HOME"; else pb_j=null; fi
pb_out="$pb_out,\"home\":$pb_j"
pb_json_opt "$pb_pw_home"
pb_out="$pb_out,\"passwd_home\":$pb_j,\"in_passwd\":$pb_pw_found,\"readlink\":$pb_has_readlink"

# --- environment ----------------------------------------------------------
pb_out="$pb_out,\"env\":{"
pb_sep=
pb_oldifs=$IFS
IFS=$pb_nl
for pb_name in $pb_vars; do
  eval "pb_isset=\${$pb_name+x}"
  if [ -n "$pb_isset" ]; then
    pb_val=
    eval "pb_val=\$$pb_name"
    pb_json "$pb_val"
  else
    pb_j=null
  fi
  pb_out="$pb_out$pb_sep\"$pb_name\":$pb_j"
  pb_sep=,
done
pb_out="$pb_out},\"secrets\":{"
pb_sep=
for pb_name in $pb_secrets; do
  eval "pb_isset=\${$pb_name:+x}"
  if [ -n "$pb_isset" ]; then pb_j=true; else pb_j=false; fi
  pb_out="$pb_out$pb_sep\"$pb_name\":$pb_j"
  pb_sep=,
done
pb_out="$pb_out}"
IFS=$pb_oldifs

# --- claude on PATH ---------------------------------------------------------
pb_link=$(command -v claude 2>/dev/null) || pb_link=
case $pb_link in /*) ;; *) pb_link= ;; esac
pb_res=
[ -n "$pb_link" ] && pb_resolve "$pb_link"
pb_claude_res=$pb_res
pb_json_opt "$pb_link"
pb_out="$pb_out,\"claude\":{\"link\":$pb_j"
pb_json_opt "$pb_claude_res"
pb_out="$pb_out,\"resolved\":$pb_j}"

# --- native installer links ------------------------------------------------
pb_out="$pb_out,\"native_links\":["
pb_sep=
IFS=$pb_nl
for pb_tmpl in $pb_links; do
  IFS=$pb_oldifs
  pb_expand "$pb_tmpl"
  pb_exists=false
  pb_res=
  if [ -e "$pb_x" ] || [ -h "$pb_x" ]; then
    pb_exists=true
    pb_resolve "$pb_x"
  fi
  pb_json "$pb_x"
  pb_out="$pb_out$pb_sep{\"path\":$pb_j,\"exists\":$pb_exists"
  pb_json_opt "$pb_res"
  pb_out="$pb_out,\"resolved\":$pb_j}"
  pb_sep=,
  IFS=$pb_nl
done
IFS=$pb_oldifs
pb_out="$pb_out]"

# --- installed npm packages ------------------------------------------------
pb_seen=$pb_nl
pb_out="$pb_out,\"packages\":["
pb_sep=
pb_count=0
pb_add_package() {
  case $pb_seen in *"$pb_nl$1$pb_nl"*) return 0 ;; esac
  pb_seen="$pb_seen$1$pb_nl"
  [ -f "$1/package.json" ] && [ -r "$1/package.json" ] || return 0
  [ $pb_count -lt 16 ] || return 0
  pb_count=$((pb_count + 1))
  pb_pkg_field "$1/package.json" name
  pb_json_opt "$pb_v"
  pb_pn_j=$pb_j
  pb_pkg_field "$1/package.json" version
  pb_json_opt "$pb_v"
  pb_pv_j=$pb_j
  pb_json "$1"
  pb_out="$pb_out$pb_sep{\"dir\":$pb_j,\"name\":$pb_pn_j,\"version\":$pb_pv_j}"
  pb_sep=,
}
if [ -n "$pb_pkg" ]; then
  for pb_p in "$pb_claude_res" "$pb_link"; do
    case $pb_p in
      */node_modules/"$pb_pkg"/*) pb_add_package "${pb_p%%/node_modules/"$pb_pkg"/*}/node_modules/$pb_pkg" ;;
    esac
  done
  IFS=$pb_nl
  for pb_tmpl in $pb_nm; do
    pb_expand "$pb_tmpl"
    for pb_d in $pb_x; do
      IFS=$pb_oldifs
      pb_add_package "$pb_d/$pb_pkg"
      IFS=$pb_nl
    done
  done
  IFS=$pb_oldifs
fi
pb_out="$pb_out]"

# --- path checks -------------------------------------------------------------
pb_has_grep=false
command -v grep >/dev/null 2>&1 && pb_has_grep=true
pb_out="$pb_out,\"checks\":["
pb_sep=
IFS=$pb_nl
for pb_tmpl in $pb_checks; do
  IFS=$pb_oldifs
  pb_expand "$pb_tmpl"
  pb_exists=false
  pb_mark=null
  if [ -e "$pb_x" ]; then
    pb_exists=true
    if [ -n "$pb_marker" ] && [ "$pb_has_grep" = true ] && [ -f "$pb_x" ] && [ -r "$pb_x" ]; then
      if grep -q -F -e "$pb_marker" "$pb_x" 2>/dev/null; then pb_mark=true; else pb_mark=false; fi
    fi
  fi
  pb_json "$pb_x"
  pb_out="$pb_out$pb_sep{\"path\":$pb_j,\"exists\":$pb_exists,\"marker\":$pb_mark}"
  pb_sep=,
  IFS=$pb_nl
done
IFS=$pb_oldifs
pb_out="$pb_out]}"

printf '%s\n' "$pb_out"
