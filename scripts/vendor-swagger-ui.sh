#!/usr/bin/env bash
# Vendors Swagger UI (folio-api's /api/docs) into src/folio/api/static/vendor/, reproducibly.
#
#   scripts/vendor-swagger-ui.sh            # the pinned version below
#   SWAGGER_UI_VERSION=5.35.0 scripts/...   # another exact version (then update the pin)
#
# scripts/vendor-npm-package.sh does the work: `npm pack` in a throwaway directory, the
# sha512 check against the registry's `dist.integrity`, and the copies:
#   swagger-ui-bundle.js             -> swagger-ui-bundle.js  (defines a global `SwaggerUIBundle`)
#   swagger-ui.css                   -> swagger-ui.css
#   favicon-32x32.png                -> swagger-ui-favicon.png
#   swagger-ui-bundle.js.LICENSE.txt -> swagger-ui-bundle.js.LICENSE.txt  (bundled libraries)
#   NOTICE                           -> swagger-ui.NOTICE.txt  (Apache-2.0 asks to keep it)
#   LICENSE                          -> swagger-ui.LICENSE.txt
# and static/vendor/swagger-ui.VERSION. Running it twice gives identical files.
# Needs: node and npm (any recent version), tar, and access to the npm registry.
set -euo pipefail

# The newest 5.x when the docs page was vendored. Only the bundle, its CSS and a favicon are
# taken: the page uses BaseLayout, so the standalone preset and swagger-initializer.js are not
# needed, and the source maps would only add megabytes. The bundle needs a browser to run, so
# its global is checked by tests/api/test_docs_ui.py in Chromium, not here in node.
VERSION="${SWAGGER_UI_VERSION:-5.35.0}"

exec "$(dirname "$0")/vendor-npm-package.sh" \
  --name vendor-swagger-ui \
  --package swagger-ui-dist \
  --version "$VERSION" \
  --dest src/folio/api/static/vendor \
  --file swagger-ui-bundle.js=swagger-ui-bundle.js \
  --file swagger-ui.css=swagger-ui.css \
  --file favicon-32x32.png=swagger-ui-favicon.png \
  --file swagger-ui-bundle.js.LICENSE.txt=swagger-ui-bundle.js.LICENSE.txt \
  --file NOTICE=swagger-ui.NOTICE.txt \
  --license swagger-ui.LICENSE.txt \
  --version-file swagger-ui.VERSION \
  --regenerate 'scripts/vendor-swagger-ui.sh (SWAGGER_UI_VERSION=x.y.z to change the version)'
