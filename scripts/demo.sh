#!/usr/bin/env bash
# The demo: build the two-node VXLAN example lab, send real traffic across nodes,
# print what the standard tools measured, tear everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
KNL=.venv/bin/kubenetlab
LAB=demo

trap '$KNL lab down "$LAB" >/dev/null 2>&1 || true' EXIT

for profile in vxlan native; do
  echo "== profile $profile: 2 nodes x 2 pods (examples/two-node.yaml) =="
  $KNL lab up -f examples/two-node.yaml --name "$LAB" --profile "$profile"
  $KNL lab status "$LAB"
  dst=$($KNL lab status "$LAB" -o json | .venv/bin/python -c \
    'import json,sys; d=json.load(sys.stdin); print(next(p["ip"] for p in d["pods"] if p["node"]=="node2"))')
  echo "-- ping node1-pod1 -> $dst (other node), by ping(8)"
  $KNL lab exec "$LAB" node1-pod1 -- ping -c 5 -i 0.2 -q "$dst" | tail -n 2
  echo "-- TCP transfer node1-pod1 -> $dst for 3 s, by iperf3"
  $KNL lab exec "$LAB" node2-pod1 -- iperf3 -s -1 -p 5201 >/dev/null &
  server=$!
  sleep 0.5
  $KNL lab exec "$LAB" node1-pod1 -- iperf3 -c "$dst" -p 5201 -t 3 -f m | grep -E "sender|receiver"
  wait "$server" || true
  $KNL lab down "$LAB"
  echo
done
