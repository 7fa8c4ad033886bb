#!/usr/bin/env bash
# The README's test command: set up .venv (scripts/setup.sh) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export GENRE_CACHE_DIR="${GENRE_CACHE_DIR:-$(mktemp -d)/genre-cache}"
exec .venv/bin/python -m pytest -q "$@"
