#!/usr/bin/env bash
# Vendors uPlot (the status page's charts) into src/folio/web/static/vendor/, reproducibly.
#
#   scripts/vendor-uplot.sh                 # the pinned version below
#   UPLOT_VERSION=1.6.32 scripts/...        # another exact version (then update the pin)
#
# scripts/vendor-npm-package.sh does the work: `npm pack` in a throwaway directory, the
# sha512 check against the registry's `dist.integrity`, and the copies:
#   dist/uPlot.iife.min.js -> static/vendor/uPlot.iife.min.js  (defines a global `uPlot`)
#   dist/uPlot.min.css     -> static/vendor/uPlot.min.css
#   LICENSE                -> static/vendor/uPlot.LICENSE.txt
# and static/vendor/uPlot.VERSION. Running it twice gives identical files.
# Needs: node and npm (any recent version), tar, and access to the npm registry.
set -euo pipefail

# The newest 1.6.x when the status page was written; status.js uses only `new uPlot(...)`.
VERSION="${UPLOT_VERSION:-1.6.32}"

exec "$(dirname "$0")/vendor-npm-package.sh" \
  --name vendor-uplot \
  --package uplot \
  --version "$VERSION" \
  --file dist/uPlot.iife.min.js=uPlot.iife.min.js \
  --file dist/uPlot.min.css=uPlot.min.css \
  --license uPlot.LICENSE.txt \
  --global uPlot \
  --version-file uPlot.VERSION \
  --regenerate 'scripts/vendor-uplot.sh (UPLOT_VERSION=x.y.z to change the version)'
