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
# plugin) are measured too. Two pytest processes, one per core (the machine has two): the
# C core, the engine and the sanitizer builds in one, the language, the CLI and the rest
# in the other; each writes its own coverage data (-p), combined for the report. The
# second's output is shown after the first's, not interleaved.
rm -f .coverage .coverage.*
half=$(mktemp)
python -m coverage run -p --branch --source=vmcore,dsl -m pytest tests/core tests/engine tests/sanitize "$@" \
    >"$half" 2>&1 &
first=$!
rest=0
python -m coverage run -p --branch --source=vmcore,dsl -m pytest tests \
    --ignore=tests/core --ignore=tests/engine --ignore=tests/sanitize "$@" || rest=$?
engine=0
wait "$first" || engine=$?
cat "$half"
rm -f "$half"
if [ "$rest" -ne 0 ] || [ "$engine" -ne 0 ]; then
    echo "check.sh: pytest failed (core/engine/sanitize: exit $engine; the rest: exit $rest)" >&2
    exit 1
fi
python -m coverage combine -q
python -m coverage report --skip-empty --skip-covered
for p in $PLUGINS; do
    (cd "$p" && python -m pytest -q -p no:cacheprovider tests)
done
