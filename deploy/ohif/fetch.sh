#!/usr/bin/env bash
# Fetch the prebuilt OHIF viewer (npm package @ohif/app, whose dist/ is a complete built site)
# into SITE (default: deploy/ohif/site, gitignored) and put the hub's app-config.js in it.
# Run at deploy time; nothing of OHIF is committed. Skipped when SITE already holds VERSION.
#
#   deploy/ohif/fetch.sh [SITE]        OHIF_VERSION=3.13.2 by default
#
# Needs npm and the npm registry (about 50 MB download, 200 MB unpacked).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${OHIF_VERSION:-3.13.2}"
site="${1:-$here/site}"
if [ -f "$site/.ohif-version" ] && [ "$(cat "$site/.ohif-version")" = "$version" ]; then
  cp "$here/app-config.js" "$site/app-config.js"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch.sh: npm is missing (apt-get install npm, or Node.js from your distribution)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetch.sh: npm pack @ohif/app@$version" >&2
( cd "$work" && npm pack --silent "@ohif/app@$version" >/dev/null )
tar -xzf "$work"/ohif-app-*.tgz -C "$work" package/dist
[ -f "$work/package/dist/index.html" ] || { echo "fetch.sh: @ohif/app@$version has no dist/index.html" >&2; exit 1; }
rm -rf "$site.tmp"
mv "$work/package/dist" "$site.tmp"
cp "$here/app-config.js" "$site.tmp/app-config.js"
# a service worker would cache the app-config and the hub's answers across deployments
printf '' > "$site.tmp/init-service-worker.js"
echo "$version" > "$site.tmp/.ohif-version"
rm -rf "$site"
mv "$site.tmp" "$site"
echo "fetch.sh: OHIF $version in $site" >&2
