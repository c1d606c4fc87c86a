#!/usr/bin/env bash
# Vendors Google's web-vitals IIFE build into src/folio/web/static/vendor/, reproducibly.
#
#   scripts/vendor-web-vitals.sh            # the pinned version below
#   WEB_VITALS_VERSION=6.2.3 scripts/...    # another exact version (then update the pin)
#
# scripts/vendor-npm-package.sh does the work: `npm pack` in a throwaway directory, the
# sha512 check against the registry's `dist.integrity`, and the copies:
#   dist/web-vitals.iife.js -> static/vendor/web-vitals.iife.js  (defines a global `webVitals`)
#   LICENSE                 -> static/vendor/web-vitals.LICENSE.txt
# and static/vendor/web-vitals.VERSION. Running it twice gives identical files.
# Needs: node and npm (any recent version), tar, and access to the npm registry.
set -euo pipefail

# 6.x still ships dist/web-vitals.iife.js with onLCP/onINP/onCLS/onFCP/onTTFB on a global
# `webVitals` (checked for 6.2.3 and 5.3.0); the newest such version is pinned.
VERSION="${WEB_VITALS_VERSION:-6.2.3}"

# rum.js calls these five functions of the global `webVitals`.
exec "$(dirname "$0")/vendor-npm-package.sh" \
  --name vendor-web-vitals \
  --package web-vitals \
  --version "$VERSION" \
  --file dist/web-vitals.iife.js=web-vitals.iife.js \
  --license web-vitals.LICENSE.txt \
  --global webVitals:onLCP,onINP,onCLS,onFCP,onTTFB \
  --version-file web-vitals.VERSION \
  --regenerate 'scripts/vendor-web-vitals.sh (WEB_VITALS_VERSION=x.y.z to change the version)'
