#!/bin/sh
# Installs Claude Code with npm (run by every Dockerfile in this folder).
# $1: an npm package spec (@anthropic-ai/claude-code@VERSION) or the path of a
# package tarball under /tmp/packages, which is installed offline.
set -eu
package=$1
if [ -f "$package" ]; then
  npm install -g --offline --no-audit --no-fund "$package"
else
  npm install -g --no-audit --no-fund "$package"
fi
npm cache clean --force >/dev/null 2>&1 || true
rm -rf /tmp/packages /root/.npm
command -v claude >/dev/null || { echo "install-claude: claude is not on PATH after installing $package" >&2; exit 1; }
