#!/usr/bin/env bash
# Vendors files of one exact npm package version into a vendor/ directory of folio, verified.
# The scripts/vendor-<package>.sh wrappers call it with their pins; it is not run by hand.
#
#   scripts/vendor-npm-package.sh --name vendor-uplot --package uplot --version 1.6.32 \
#     --file dist/uPlot.iife.min.js=uPlot.iife.min.js --file dist/uPlot.min.css=uPlot.min.css \
#     --license uPlot.LICENSE.txt --version-file uPlot.VERSION --global uPlot \
#     --regenerate 'scripts/vendor-uplot.sh (UPLOT_VERSION=x.y.z to change the version)'
#
#   --name          prefix of every message (the wrapper's name)
#   --dest DIR      where the files go, relative to the repository (default:
#                   src/folio/web/static/vendor)
#   --file SRC=DEST a file of the package (path inside it) and its name in the --dest directory;
#                   repeatable, copied unmodified; the first one is the script --global checks
#   --license DEST  where the package's LICENSE file goes
#   --global SPEC   NAME or NAME:fn1,fn2: running the first file in an empty JS context must
#                   define the global NAME (and these functions on it), as the pages expect
#   --version-file  the provenance file written next to the files
#   --regenerate    the command line the provenance file tells readers to run
#
# It runs `npm pack` in a throwaway directory (no node_modules, no package.json in the
# repo; no install scripts run), checks the tarball's sha512 against the registry's
# `dist.integrity`, checks the version inside the tarball, and copies the files. The output
# depends only on the tarball, so running it twice gives identical files.
# Needs: node and npm (any recent version), tar, and access to the npm registry.
set -euo pipefail

NAME="" PACKAGE="" VERSION="" LICENSE_DEST="" GLOBAL="" VERSION_FILE="" REGENERATE=""
DEST="src/folio/web/static/vendor"
FILES=()
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "vendor-npm-package: $1 needs a value" >&2; exit 2; }
  case "$1" in
    --name) NAME="$2" ;;
    --package) PACKAGE="$2" ;;
    --version) VERSION="$2" ;;
    --dest) DEST="$2" ;;
    --file) FILES+=("$2") ;;
    --license) LICENSE_DEST="$2" ;;
    --global) GLOBAL="$2" ;;
    --version-file) VERSION_FILE="$2" ;;
    --regenerate) REGENERATE="$2" ;;
    *) echo "vendor-npm-package: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
for required in NAME PACKAGE VERSION LICENSE_DEST VERSION_FILE REGENERATE; do
  [ -n "${!required}" ] || { echo "vendor-npm-package: a value for ${required} is missing" >&2; exit 2; }
done
[ ${#FILES[@]} -gt 0 ] || { echo "$NAME: no --file given" >&2; exit 2; }

fail() {
  echo "$NAME: $*" >&2
  exit 1
}

cd "$(dirname "$0")/.."

if ! [[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  fail "'$VERSION' is not an exact version (x.y.z)"
fi
for tool in node npm tar; do
  command -v "$tool" >/dev/null || fail "'$tool' is not installed"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# What the registry says the tarball must hash to (Subresource Integrity form: sha512-<base64>).
expected="$(cd "$work" && npm view "$PACKAGE@$VERSION" dist.integrity)"
if ! [[ "$expected" == sha512-* ]]; then
  fail "no sha512 integrity for $PACKAGE@$VERSION (got '$expected')"
fi

# npm pack downloads the published tarball without installing anything or running scripts.
(cd "$work" && npm pack "$PACKAGE@$VERSION" --ignore-scripts --silent >/dev/null)
tarball="$work/$PACKAGE-$VERSION.tgz"
[ -f "$tarball" ] || fail "npm pack did not produce $tarball"

digest() { # digest ALGORITHM ENCODING FILE
  node -e '
    const crypto = require("crypto");
    const data = require("fs").readFileSync(process.argv[3]);
    process.stdout.write(crypto.createHash(process.argv[1]).update(data).digest(process.argv[2]));
  ' "$1" "$2" "$3"
}

actual="sha512-$(digest sha512 base64 "$tarball")"
if [ "$actual" != "$expected" ]; then
  echo "$NAME: integrity mismatch for $PACKAGE@$VERSION" >&2
  echo "  expected $expected" >&2
  echo "  actual   $actual" >&2
  exit 1
fi

mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
pkg="$work/unpacked/package"

packed_version="$(node -p 'require(process.argv[1]).version' "$pkg/package.json")"
if [ "$packed_version" != "$VERSION" ]; then
  fail "tarball says version $packed_version, wanted $VERSION"
fi
license="$(node -p 'require(process.argv[1]).license' "$pkg/package.json")"

for mapping in "${FILES[@]}"; do
  source="${mapping%%=*}"
  [ -f "$pkg/$source" ] || fail "$PACKAGE@$VERSION has no $source"
done
[ -f "$pkg/LICENSE" ] || fail "$PACKAGE@$VERSION has no LICENSE"

# The build must define the global that folio's pages use, with every function they call.
if [ -n "$GLOBAL" ]; then
  first="${FILES[0]%%=*}"
  node -e '
    const vm = require("vm");
    const [name, wanted] = process.argv[2].split(":");
    const ctx = {};
    vm.createContext(ctx);
    vm.runInContext(require("fs").readFileSync(process.argv[1], "utf8"), ctx);
    const value = ctx[name];
    if (!value) {
      console.error(process.argv[3] + ": the script defines no global " + name);
      process.exit(1);
    }
    const missing = (wanted ? wanted.split(",") : []).filter((n) => typeof value[n] !== "function");
    if (missing.length) {
      console.error(process.argv[3] + ": " + name + " lacks " + missing.join(", "));
      process.exit(1);
    }
  ' "$pkg/$first" "$GLOBAL" "$NAME"
fi

mkdir -p "$DEST"
provenance="$(printf 'package: %s\nversion: %s\nlicense: %s\ntarball-integrity: %s' \
  "$PACKAGE" "$VERSION" "$license" "$expected")"
for mapping in "${FILES[@]}"; do
  source="${mapping%%=*}"
  target="${mapping#*=}"
  cp "$pkg/$source" "$DEST/$target"
  provenance+=$'\n'"file: $source -> $target (unmodified)"
  provenance+=$'\n'"file-sha256: $(digest sha256 hex "$DEST/$target")"
done
cp "$pkg/LICENSE" "$DEST/$LICENSE_DEST"

cat > "$DEST/$VERSION_FILE" <<EOF
$provenance
source: npm registry, verified against \`npm view $PACKAGE@$VERSION dist.integrity\`
regenerate: $REGENERATE
EOF

echo "$NAME: $PACKAGE@$VERSION ($expected) -> $DEST"
