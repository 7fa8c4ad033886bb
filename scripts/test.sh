#!/usr/bin/env bash
# The README's test command: create/refresh .venv, install requirements.txt, run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
export GENRE_CACHE_DIR="${GENRE_CACHE_DIR:-$(mktemp -d)/genre-cache}"
exec .venv/bin/python -m pytest -q "$@"
