#!/usr/bin/env bash
# Re-vendor the browser libraries into web/static/vendor from the npm registry:
# hls.js (player) and tus-js-client (resumable uploads), minified builds plus their licences.
# Versions are pinned in package.json / package-lock.json; bump them there, run this, commit.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "build.sh: npm is needed (apt-get install npm)" >&2; exit 1; }
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
vendor=static/vendor
mkdir -p "$vendor"
cp node_modules/hls.js/dist/hls.min.js "$vendor/hls.min.js"
cp node_modules/hls.js/LICENSE "$vendor/hls.js.LICENSE"
cp node_modules/tus-js-client/dist/tus.min.js "$vendor/tus.min.js"
cp node_modules/tus-js-client/LICENSE "$vendor/tus-js-client.LICENSE"
# Source maps are not vendored: drop the comments that would make devtools ask for them.
sed -i '\#^//\# sourceMappingURL=#d' "$vendor/hls.min.js" "$vendor/tus.min.js"
{
  echo "# Vendored by web/build.sh from the npm registry; do not edit by hand."
  for pkg in hls.js tus-js-client; do
    echo "$pkg $(node -p "require('./node_modules/$pkg/package.json').version")"
  done
  (cd "$vendor" && sha256sum hls.min.js tus.min.js)
} > "$vendor/VERSIONS"
cat "$vendor/VERSIONS"
