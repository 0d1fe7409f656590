#!/bin/sh
# Stand-in for Claude Code in the `standin-login` test image (see README.md).
# It imitates the terminal side of `claude /login` of an npm-js build: a
# banner, a URL, a "Paste code here" prompt, one line read from the terminal,
# then the files a real login writes, where that version writes them:
#   ${CLAUDE_CONFIG_DIR:-$HOME/.claude}/.credentials.json   (mode 0600)
#   ${CLAUDE_CONFIG_DIR:-$HOME}/.claude.json
# The tokens are derived from the code so tests can predict them:
#   accessToken  sk-ant-oat01-CANARY-test-<code>
#   refreshToken sk-ant-ort01-CANARY-test-<code>
# An empty code, a code with characters outside [A-Za-z0-9_-], or end of input
# aborts with exit status 1 and writes nothing.
set -u

version=1.0.40

case "${1:-/login}" in
--version | -v)
  echo "$version (Claude Code)"
  exit 0
  ;;
/login | login) ;;
*)
  echo "claude stand-in $version: only '/login' and '--version' are imitated" >&2
  exit 2
  ;;
esac

echo "Welcome to Claude Code (stand-in) v$version"
echo
echo "Browser didn't open? Use the url below to sign in:"
echo
echo "https://claude.ai/oauth/authorize?code=true&client_id=00000000-0000-4000-8000-000000000000&response_type=code&redirect_uri=https%3A%2F%2Fconsole.anthropic.com%2Foauth%2Fcode%2Fcallback&scope=user%3Ainference&state=standin"
echo
printf 'Paste code here if prompted > '
if ! IFS= read -r code; then
  echo
  echo "Login failed: no code was entered" >&2
  exit 1
fi
# a pasted code may end with a carriage return on a raw terminal
code=$(printf '%s' "$code" | tr -d '\r')
case "$code" in
'' | *[!A-Za-z0-9_-]*)
  echo "Login failed: invalid code" >&2
  exit 1
  ;;
esac

home=${HOME:-/root}
if [ -n "${CLAUDE_CONFIG_DIR:-}" ]; then
  cfg=$CLAUDE_CONFIG_DIR
  global=$CLAUDE_CONFIG_DIR/.claude.json
else
  cfg=$home/.claude
  global=$home/.claude.json
fi

now_s=$(date +%s)
expires_ms=$(((now_s + 8 * 3600) * 1000))

umask 077
mkdir -p "$cfg" || exit 1
tmp=$cfg/.credentials.json.tmp.$$
cat >"$tmp" <<EOF || exit 1
{"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-$code","refreshToken":"sk-ant-ort01-CANARY-test-$code","expiresAt":$expires_ms,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}}
EOF
mv -f "$tmp" "$cfg/.credentials.json" || exit 1

umask 022
tmp=$global.tmp.$$
cat >"$tmp" <<EOF || exit 1
{"numStartups":1,"hasCompletedOnboarding":true,"lastOnboardingVersion":"$version","oauthAccount":{"accountUuid":"00000000-0000-4000-8000-00000000c0de","emailAddress":"canary-test-$code@example.com","organizationUuid":"00000000-0000-4000-8000-0000000000a1","organizationName":"Canary Test Org","organizationRole":"admin"}}
EOF
mv -f "$tmp" "$global" || exit 1

echo
echo "Login successful. Logged in as canary-test-$code@example.com"
exit 0
