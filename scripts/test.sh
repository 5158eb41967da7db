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
# other), then the lab tests one at a time (they share the host's /run/netns, cgroups and
# CPUs, and several measure CPU time).
.venv/bin/python -m pytest -m "not lab" -n 2
unit=$?
.venv/bin/python -m pytest -m lab --durations=25
lab=$?
for rc in "$unit" "$lab"; do
  if [ "$rc" -eq 5 ]; then echo "test: pytest collected no test at all; the suite is missing" >&2; exit 1; fi
done
[ "$unit" -eq 0 ] && [ "$lab" -eq 0 ]
