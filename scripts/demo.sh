#!/usr/bin/env bash
# The demo: kubenetlab's main job. It measures every claim of the article it can on this
# host — `compare` (TCP_RR, TCP_CRR, TCP_STREAM, ClusterIP connections and NodePort RR
# between pods on different nodes, per data-path profile, interleaved), the MTU, Service
# scale, convergence through etcd, externalTrafficPolicy, endpoint churn on the upstream
# kube-proxy and canary scenarios, a per-hop
# trace of a VXLAN path, etcd's disk, the host itself and an audit of the article's helm
# command — then writes report/index.html: each claim with its evidence and a verdict.
# Every lab it builds it removes again (also on ^C); a user's other labs are left alone.
# DEMO=full (make demo-full): the thorough settings.
set -euo pipefail
STARTED=$SECONDS
cd "$(dirname "$0")/.."
K=.venv/bin/kubenetlab
OUT=report
mkdir -p "$OUT"

# A scenario exits 1 when one of its own checks fails: that is a finding for the report,
# not a reason to stop. Anything else (bad input, missing tool) stops the demo.
step() {
  echo "demo: $*" >&2
  local rc=0 started=$SECONDS
  "$@" || rc=$?
  echo "demo: … $(( SECONDS - started )) s" >&2
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then exit "$rc"; fi
}

# Two sizes: `make demo` (≈ 5 min on 2 vCPUs) runs each scenario at the smallest setting
# whose result the report can still judge; `make demo-full` (≈ 9 min) runs more repeats,
# profiles and sizes. Both judge every claim; the page says which settings produced it.
if [ "${DEMO:-quick}" = full ]; then
  CMP=(--repeats 3 --trace 1000)
  MTU=(--profiles native,vxlan --sizes 1400,1472,8192 --repeats 2)
  SCALE=(--proxy iptables,iptables-legacy,nftables,ebpf --repeats 2)
  CONV=(--changes 10 --proxy iptables,nftables,ebpf --placements tmpfs,disk,slow)
  CHURN=(--proxy iptables,nftables,ebpf --services 1000 --rate 1,10 --duration 10)
else
  CMP=(--repeats 2 --trace 200)
  MTU=(--profiles vxlan --sizes 1472,8192 --repeats 1)
  SCALE=(--proxy iptables,nftables,ebpf --repeats 1)
  CONV=(--changes 5 --proxy iptables,ebpf --placements tmpfs,slow)
  CHURN=(--proxy iptables --services 300 --rate 10 --duration 5)
fi

# 1 s runs: sockperf adds a fixed ~2 s wait to every run.
step $K compare --profiles native,flannel,calico-ipip,calico-bgp,cilium,cilium-dsr \
  --duration 1 "${CMP[@]}" --report "$OUT"
step $K scenario mtu "${MTU[@]}" --cases aligned,misaligned --duration 1 --report "$OUT" >/dev/null
step $K scenario service-scale --services 100,5000 "${SCALE[@]}" --duration 1 --report "$OUT" >/dev/null
step $K scenario convergence "${CONV[@]}" --services 20 --report "$OUT" >/dev/null
step $K scenario etp --requests 10 --report "$OUT" >/dev/null
step $K scenario churn "${CHURN[@]}" --report "$OUT" >/dev/null
step $K scenario canary -f examples/gateway/article-httproute.yaml --requests 1000 \
  --report "$OUT" >/dev/null

# Per-hop trace of a VXLAN path, on a lab of the demo's own, removed again whatever happens.
trap '$K lab down demo-trace >/dev/null 2>&1 || true' EXIT
step $K lab up --name demo-trace --profile vxlan --nodes 2 --pods-per-node 1 >/dev/null
step $K trace demo-trace --from node1-pod1 --to node2-pod1 --packets 500 --report "$OUT" >/dev/null
$K lab down demo-trace >/dev/null
trap - EXIT

step $K etcd disk --dir /var/tmp --size 8m --engine builtin -o json >"$OUT/etcd-disk.json"
step $K host check -o json >"$OUT/host.json"
step $K audit -o json --helm-command "helm install cilium cilium/cilium --version 1.16.2 \
--namespace kube-system --set tunnel=disabled --set autoDirectNodeRoutes=true \
--set kubeProxyReplacement=true --set loadBalancer.mode=dsr" >"$OUT/audit.json"

$K report "$OUT"/compare.json "$OUT"/mtu.json "$OUT"/service-scale.json "$OUT"/convergence.json \
  "$OUT"/etp.json "$OUT"/churn.json "$OUT"/canary.json "$OUT"/trace.json "$OUT"/etcd-disk.json "$OUT"/host.json \
  "$OUT"/audit.json --html "$OUT/index.html"
echo "demo: the report is $(pwd)/$OUT/index.html ($(( SECONDS - STARTED )) s)"
