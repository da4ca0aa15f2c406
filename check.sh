#!/bin/sh
# The whole test suite: install (editable, with the dev extra), lint, type-check, test.
# .ci/run calls exactly this; README's "Quick start" shows it.
set -eu
cd "$(dirname "$0")"
python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v -e '^WARNING: Location' -e 'Running pip as the' || true
python -m ruff check vmcore dsl tests benchmarks
python -m mypy --strict vmcore tests benchmarks
python -m pytest "$@"
