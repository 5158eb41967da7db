"""Service proxies with kube-proxy's semantics (iptables, nftables, eBPF)."""
