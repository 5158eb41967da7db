#!/usr/bin/env bash
# Lint, then the whole suite. Lab tests (real namespaces) run whenever we are root,
# and must run in CI: tests/conftest.py fails them instead of skipping there.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests benchmarks || exit 1
# The Go we write (go/knl-kubelet): gofmt, go vet and its unit tests.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
unformatted=$(gofmt -l go)
if [ -n "$unformatted" ]; then echo "test: gofmt would change: $unformatted" >&2; exit 1; fi
(cd go/knl-kubelet && go vet ./... && go test ./...) || exit 1
if [ "$#" -gt 0 ]; then
  .venv/bin/python -m pytest "$@"
  rc=$?
  # No test collected: fine for a filtered run (make test PYTEST_ARGS="-k …").
  if [ "$rc" -eq 5 ]; then echo "test: the filter '$*' selected no test" >&2; exit 0; fi
  exit "$rc"
fi
# The whole suite: unit and golden tests in two processes (CPU-bound, independent of each
# other); then the lab tests three at a time — they mostly wait on API servers, kernels and
# sockets — a module to a worker (its tests may share a lab), each test checking the root namespace, and the pair checked for leftovers and stray
# processes once both are done (tests/lab/phase.py); then, one at a time, the lab tests
# marked `serial` (they hold CPU or latency figures to a bound, or end every lab).
.venv/bin/python -m pytest -m "not lab" -n 2
unit=$?
state=$(mktemp)
trap 'rm -f "$state"' EXIT
if [ "$(id -u)" -eq 0 ]; then
  .venv/bin/python -m tests.lab.phase before "$state" || exit 1
fi
.venv/bin/python -m pytest -m "lab and not serial" -n 3 --dist loadfile --durations=20
parallel=$?
if [ "$(id -u)" -eq 0 ]; then
  .venv/bin/python -m tests.lab.phase after "$state" || parallel=1
fi
.venv/bin/python -m pytest -m "lab and serial" --durations=10
serial=$?
for rc in "$unit" "$parallel" "$serial"; do
  if [ "$rc" -eq 5 ]; then echo "test: pytest collected no test at all; the suite is missing" >&2; exit 1; fi
done
[ "$unit" -eq 0 ] && [ "$parallel" -eq 0 ] && [ "$serial" -eq 0 ]
