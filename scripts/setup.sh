#!/usr/bin/env bash
# Set up genre-lab: create .venv in the repo root and install the pinned requirements.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
# genre_core itself, editable (pyproject.toml): `import genre_core` works from any folder, no sys.path tricks
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "genre-lab is set up. Launch the app with: .venv/bin/streamlit run Home.py"
