#!/usr/bin/env bash
# The demo: kubenetlab's main job. `kubenetlab compare` builds a 2-node lab per data-path
# profile, measures TCP_RR, TCP_CRR and TCP_STREAM between pods on different nodes with
# sockperf, the built-in CRR driver and iperf3 (5 interleaved runs each), tears the labs
# down and prints the table; JSON, CSV and PNG charts go to ./report/.
set -euo pipefail
cd "$(dirname "$0")/.."
# No `lab down --all` here: compare removes the labs it built, also on ^C or SIGTERM,
# and a user's other labs are not the demo's to remove.
# 1 s runs: sockperf adds a fixed ~2 s wait to every run, and 5 interleaved runs of
# 6 data paths (2 s each) would take ~6 min on a 2-core VM; 1 s keeps the demo ≤ 4 min.
.venv/bin/kubenetlab compare --duration 1 --report report
