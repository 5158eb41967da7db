#!/usr/bin/env bash
# Installs everything kubenetlab and its tests need on Debian 12, as root.
# Idempotent: packages already present and an up-to-date virtualenv are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the kernel tools the lab drives and the standard measuring tools.
DEBIAN_PACKAGES=(
  iproute2 iptables nftables nfacct kmod procps util-linux iputils-ping ethtool
  iperf3 sockperf fio
  bird2 nginx-light etcd-server
  python3 python3-venv python3-pip make gcc libc6-dev
  clang llvm libbpf-dev bpftool
  chromium chromium-driver dnsmasq-base
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (it installs Debian packages): sudo make setup" >&2
  exit 3
fi

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # bird2 and nginx are run by the lab inside its namespaces only. Where systemd started
  # their services in the host's namespace on install, stop and disable them again.
  if [ -d /run/systemd/system ]; then
    for pkg in "${missing[@]}"; do
      case "$pkg" in
        bird2) systemctl disable --now bird.service >/dev/null 2>&1 || true ;;
        nginx-light) systemctl disable --now nginx.service >/dev/null 2>&1 || true ;;
        etcd-server) systemctl disable --now etcd.service >/dev/null 2>&1 || true ;;
      esac
    done
  fi
fi

# The virtualenv, with kubenetlab installed editable; redone only when pyproject.toml changes.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.kubenetlab-setup-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x .venv/bin/kubenetlab ]; then
  echo "setup: installing kubenetlab and its Python dependencies into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$stamp"
fi
# The eBPF proxy's programs, compiled against this kernel's BTF (cached; rebuilt on change).
# Not fatal: on a kernel without BTF the eBPF proxy says so itself (exit 3) when used.
.venv/bin/python -c "from kubenetlab.bpf import object_file; object_file('lb'); object_file('trace')" \
  >/dev/null || echo "setup: eBPF programs not built (see above)" >&2
# The native TCP_RR/CRR driver, rebuilt when its source changes.
src=src/kubenetlab/bench/knl_rr.c
if [ ! -x .venv/bin/knl-rr ] || [ "$src" -nt .venv/bin/knl-rr ]; then
  echo "setup: compiling knl-rr (the built-in C request/response driver)" >&2
  gcc -O2 -Wall -o .venv/bin/knl-rr "$src"
fi

# The upstream control plane (Kubernetes, etcd), built from the Go module proxy through the
# wrapper modules in third_party/; cached by version, so this is a no-op once built.
bash scripts/build-upstream.sh

# knl-kubelet (go/knl-kubelet: upstream virtual-kubelet + kubenetlab's provider), the
# kubelet of every lab node with control_plane: kubernetes; rebuilt when its sources change.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
kubelet_src=$(cat go/knl-kubelet/go.mod go/knl-kubelet/go.sum go/knl-kubelet/*.go go/knl-kubelet/*/*.go | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/knl-kubelet ] || [ "$(cat .venv/.knl-kubelet-stamp 2>/dev/null)" != "$kubelet_src" ]; then
  echo "setup: building knl-kubelet (the first time: about 5 min on 2 CPUs)" >&2
  (cd go/knl-kubelet && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o ../../.venv/bin/knl-kubelet .) \
    || { echo "setup: building go/knl-kubelet failed (above); fix and rerun make setup" >&2; exit 3; }
  echo "$kubelet_src" > .venv/.knl-kubelet-stamp
fi

# `kubenetlab` and the lab's `kubectl` on PATH, as the README uses them: links to this
# checkout's virtualenv and the build cache (never replacing a file that is not such a link).
kubectl_bin=$(.venv/bin/python -c "from kubenetlab.controlplane import upstream; print(upstream.program('kubectl'))")
for pair in "kubenetlab=$PWD/.venv/bin/kubenetlab" "kubectl=$kubectl_bin"; do
  link=/usr/local/bin/${pair%%=*}
  if [ ! -e "$link" ] || [ -L "$link" ]; then
    ln -sfn "${pair#*=}" "$link"
  else
    echo "setup: $link exists and is not kubenetlab's link; left as it is" >&2
  fi
done
echo "setup: ready ($(command -v kubenetlab || echo .venv/bin/kubenetlab))" >&2
