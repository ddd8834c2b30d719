#!/usr/bin/env bash
# Runs the test suite. pytest's exit code 5 ("no tests were collected") is a failure here:
# a suite that silently runs nothing must never pass as green.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# With no arguments (`make test`): the whole suite except tests/bundle, which tests the frozen app
# and runs in `make test-bundle` once the bundle is built.
if [ "$#" -eq 0 ]; then
  set -- --ignore=tests/bundle
fi
"$ROOT/.venv/bin/python" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run-pytest: pytest collected no tests; treating that as a failure." >&2
  exit 1
fi
exit "$rc"
