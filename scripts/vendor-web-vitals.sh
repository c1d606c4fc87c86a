#!/usr/bin/env bash
# Vendors Google's web-vitals IIFE build into src/folio/web/static/vendor/, reproducibly.
#
#   scripts/vendor-web-vitals.sh            # the pinned version below
#   WEB_VITALS_VERSION=6.2.3 scripts/...    # another exact version (then update the pin)
#
# It runs `npm pack` in a throwaway directory (no node_modules, no package.json in the
# repo), checks the tarball's sha512 against the registry's `dist.integrity`, and copies:
#   dist/web-vitals.iife.js -> static/vendor/web-vitals.iife.js  (defines a global `webVitals`)
#   LICENSE                 -> static/vendor/web-vitals.LICENSE.txt
# and writes static/vendor/web-vitals.VERSION. Running it twice gives identical files.
# Needs: node and npm (any recent version), tar, and access to the npm registry.
set -euo pipefail

# 6.x still ships dist/web-vitals.iife.js with onLCP/onINP/onCLS/onFCP/onTTFB on a global
# `webVitals` (checked for 6.2.3 and 5.3.0); the newest such version is pinned.
VERSION="${WEB_VITALS_VERSION:-6.2.3}"
PACKAGE="web-vitals"

cd "$(dirname "$0")/.."
DEST="src/folio/web/static/vendor"

if ! [[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "vendor-web-vitals: '$VERSION' is not an exact version (x.y.z)" >&2
  exit 1
fi
for tool in node npm tar; do
  command -v "$tool" >/dev/null || { echo "vendor-web-vitals: '$tool' is not installed" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# What the registry says the tarball must hash to (Subresource Integrity form: sha512-<base64>).
expected="$(cd "$work" && npm view "$PACKAGE@$VERSION" dist.integrity)"
if ! [[ "$expected" == sha512-* ]]; then
  echo "vendor-web-vitals: no sha512 integrity for $PACKAGE@$VERSION (got '$expected')" >&2
  exit 1
fi

# npm pack downloads the published tarball without installing anything or running scripts.
(cd "$work" && npm pack "$PACKAGE@$VERSION" --ignore-scripts --silent >/dev/null)
tarball="$work/$PACKAGE-$VERSION.tgz"
[ -f "$tarball" ] || { echo "vendor-web-vitals: npm pack did not produce $tarball" >&2; exit 1; }

actual="sha512-$(node -e '
  const crypto = require("crypto");
  const data = require("fs").readFileSync(process.argv[1]);
  process.stdout.write(crypto.createHash("sha512").update(data).digest("base64"));
' "$tarball")"
if [ "$actual" != "$expected" ]; then
  echo "vendor-web-vitals: integrity mismatch for $PACKAGE@$VERSION" >&2
  echo "  expected $expected" >&2
  echo "  actual   $actual" >&2
  exit 1
fi

mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
pkg="$work/unpacked/package"

packed_version="$(node -p 'require(process.argv[1]).version' "$pkg/package.json")"
if [ "$packed_version" != "$VERSION" ]; then
  echo "vendor-web-vitals: tarball says version $packed_version, wanted $VERSION" >&2
  exit 1
fi
license="$(node -p 'require(process.argv[1]).license' "$pkg/package.json")"

iife="$pkg/dist/web-vitals.iife.js"
[ -f "$iife" ] || { echo "vendor-web-vitals: $PACKAGE@$VERSION has no dist/web-vitals.iife.js" >&2; exit 1; }
[ -f "$pkg/LICENSE" ] || { echo "vendor-web-vitals: $PACKAGE@$VERSION has no LICENSE" >&2; exit 1; }

# The build must define the global that rum.js uses, with every function it calls.
node -e '
  const vm = require("vm");
  const ctx = {};
  vm.createContext(ctx);
  vm.runInContext(require("fs").readFileSync(process.argv[1], "utf8"), ctx);
  const missing = ["onLCP", "onINP", "onCLS", "onFCP", "onTTFB"].filter(
    (n) => !ctx.webVitals || typeof ctx.webVitals[n] !== "function");
  if (missing.length) {
    console.error("vendor-web-vitals: webVitals lacks " + missing.join(", "));
    process.exit(1);
  }
' "$iife"

mkdir -p "$DEST"
cp "$iife" "$DEST/web-vitals.iife.js"
cp "$pkg/LICENSE" "$DEST/web-vitals.LICENSE.txt"
sha256="$(node -e '
  const crypto = require("crypto");
  const data = require("fs").readFileSync(process.argv[1]);
  process.stdout.write(crypto.createHash("sha256").update(data).digest("hex"));
' "$DEST/web-vitals.iife.js")"

cat > "$DEST/web-vitals.VERSION" <<EOF
package: $PACKAGE
version: $VERSION
license: $license
tarball-integrity: $expected
file: dist/web-vitals.iife.js -> web-vitals.iife.js (unmodified)
file-sha256: $sha256
source: npm registry, verified against \`npm view $PACKAGE@$VERSION dist.integrity\`
regenerate: scripts/vendor-web-vitals.sh (WEB_VITALS_VERSION=x.y.z to change the version)
EOF

echo "vendor-web-vitals: $PACKAGE@$VERSION ($expected) -> $DEST"
