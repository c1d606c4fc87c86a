#!/bin/sh
# Installs folio and exactly its locked runtime dependencies (no dev or bench groups) into
# a new virtual environment at $1, from the checkout this script is in.
#
#   deploy/docker/install-venv.sh /opt/folio
#
# The Dockerfile's build stage runs it, and so does tests/deploy/test_image_without_docker.py,
# which checks on machines without Docker that the image's commands work. $UV names the uv
# to use (default: uv on PATH); `--frozen` fails rather than change uv.lock.
# `--reinstall-package folio` builds folio from this checkout every time: uv would otherwise
# reuse a wheel it cached from an older checkout, without files added since.
set -eu
target="${1:?usage: install-venv.sh TARGET_DIRECTORY}"
cd "$(dirname "$0")/../.."
UV_PROJECT_ENVIRONMENT="$target" "${UV:-uv}" sync \
  --frozen --no-default-groups --no-editable --reinstall-package folio --reinstall-package folio-metrics --compile-bytecode \
  --link-mode copy
