#!/bin/sh
# Vendors the web UI's terminal, xterm.js, into static/vendor (run by
# `make ui-vendor`): the packages are installed from npm at pinned
# versions into a temporary directory and their browser builds, style
# sheet and licenses copied in. The files are committed, so that building
# corral needs no npm, and served by the master like the rest of the UI
# (no CDN, under its Content-Security-Policy).
set -eu

XTERM_VERSION=6.0.0
FIT_VERSION=0.11.0

here=$(cd "$(dirname "$0")" && pwd)
out="$here/static/vendor/xterm"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm install --no-audit --no-fund --ignore-scripts --no-save \
	"@xterm/xterm@$XTERM_VERSION" "@xterm/addon-fit@$FIT_VERSION" >/dev/null

rm -rf "$out"
mkdir -p "$out"
# The source maps stay out: the browser would ask for them and get a 404.
sed '/^\/\/# sourceMappingURL=/d' node_modules/@xterm/xterm/lib/xterm.mjs >"$out/xterm.mjs"
sed '/^\/\/# sourceMappingURL=/d' node_modules/@xterm/addon-fit/lib/addon-fit.mjs >"$out/addon-fit.mjs"
cp node_modules/@xterm/xterm/css/xterm.css "$out/xterm.css"
cp node_modules/@xterm/xterm/LICENSE "$out/LICENSE"
cp node_modules/@xterm/addon-fit/LICENSE "$out/LICENSE.addon-fit"
printf '@xterm/xterm %s\n@xterm/addon-fit %s\n' "$XTERM_VERSION" "$FIT_VERSION" >"$out/VERSIONS"
echo "vendored xterm.js $XTERM_VERSION and addon-fit $FIT_VERSION into $out"
