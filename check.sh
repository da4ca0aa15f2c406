#!/bin/sh
# The whole test suite: install (editable, with the dev extra and the bundled plugin
# packages), lint, type-check, test with branch coverage, then each plugin's own tests.
# .ci/run calls exactly this; README's "Quick start" shows it.
set -eu
cd "$(dirname "$0")"
PLUGINS="plugins/vmcore-emergency-pool plugins/vmcore-hint-migration plugins/vmcore-fault-stats"
pip_args=""
for p in $PLUGINS; do pip_args="$pip_args -e $p"; done
# editable_mode=compat: a path entry instead of an import hook, so that mypy run inside a
# plugin package can see vmcore
python -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat \
    -e '.[dev,plot]' $pip_args 2>&1 \
    | grep -v -e '^WARNING: Location' -e 'Running pip as the' || true
# bytecode, as a regular install would write it: `vmcore` subprocesses start ~100 ms faster
python -m compileall -q vmcore dsl >/dev/null
python -m ruff check vmcore dsl tests benchmarks plugins
python -m mypy --strict vmcore tests benchmarks
for p in $PLUGINS; do
    (cd "$p" && python -m mypy --strict src tests)
done
python -m vmcore.cli fmt --check scenarios
# coverage starts before pytest, so modules its plugins import early (vmcore's own pytest
# plugin) are measured too
python -m coverage run --branch --source=vmcore,dsl -m pytest "$@"
python -m coverage report --skip-empty --skip-covered
for p in $PLUGINS; do
    (cd "$p" && python -m pytest -q -p no:cacheprovider tests)
done
