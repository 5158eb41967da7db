#!/usr/bin/env bash
# Builds the pinned upstream programs (Kubernetes, etcd) from the Go module proxy through the
# wrapper modules under third_party/, as upstream's own release build does: CGO_ENABLED=0,
# -trimpath, tags selinux,notest,grpcnotrace, -s -w, version -X flags, the release's godebug
# default (the wrapper's go.mod carries it). Cached by release and Go version: a second run
# is a no-op. Binaries land in $KNL_UPSTREAM_DIR (default /var/cache/kubenetlab/upstream).
#
#   scripts/build-upstream.sh [kubernetes|etcd ...]      (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${KNL_UPSTREAM_DIR:-/var/cache/kubenetlab/upstream}

# Go 1.26+ (the releases' go.mod ask for it; Debian 12's golang-go is 1.19): on PATH, or
# where the official tarball puts it.
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null; then
  echo "setup: go not found; the upstream control plane is built from the Go module proxy with Go 1.26+: install it from https://go.dev/dl into /usr/local/go" >&2
  exit 3
fi
GOVER=$(go env GOVERSION)
case "$GOVER" in
  go1.2[6-9]*|go1.[3-9][0-9]*) ;;
  *) echo "setup: $GOVER is too old to build Kubernetes $(awk '$1=="require"{print $3}' third_party/kubernetes/go.mod | head -1) (it needs Go 1.26+): install it from https://go.dev/dl" >&2; exit 3 ;;
esac

# version of the module a wrapper requires, read from its go.mod
required() { awk -v m="$2" '$1=="require" && $2==m {print $3} $1==m && NF>=2 && $2 ~ /^v/ {print $2}' "third_party/$1/go.mod" | head -1; }

build() {  # build NAME MODULE OUT-DIR LDFLAGS PACKAGES...
  local name=$1 module=$2 out=$3 ldflags=$4; shift 4
  local tmp="$out.partial.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  # A failed build leaves nothing on PATH: binaries move into place only when all are built.
  echo "setup: building $name from the Go module proxy into $out (the first time: about 12 min on 2 CPUs)" >&2
  local start=$SECONDS
  if ! (cd "third_party/$name" && CGO_ENABLED=0 go build -mod=readonly -trimpath \
        -tags selinux,notest,grpcnotrace -ldflags "-s -w $ldflags" -o "$tmp/" "$@"); then
    rm -rf "$tmp"
    echo "setup: building $module failed (above: a module the proxy did not serve, or no disk space?); fix and rerun make setup" >&2
    exit 3
  fi
  # etcd's server is the main package of go.etcd.io/etcd/server/v3, which go names "server"
  if [ "$name" = etcd ]; then mv "$tmp/server" "$tmp/etcd"; fi
  echo "build_seconds=$((SECONDS - start))" > "$tmp/.built"
  rm -rf "$out"; mv "$tmp" "$out"
  echo "setup: built $name in $((SECONDS - start)) s ($(du -sh "$out" | cut -f1))" >&2
}

kubernetes() {
  local v; v=$(required kubernetes k8s.io/kubernetes)
  local out="$CACHE/kubernetes-$v-$GOVER"
  [ -f "$out/.built" ] && return 0
  local minor=${v#v1.}; minor=${minor%%.*}
  local ld="" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  build kubernetes k8s.io/kubernetes "$out" "$ld" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
}

etcd() {
  local v; v=$(required etcd go.etcd.io/etcd/server/v3)
  local out="$CACHE/etcd-$v-$GOVER"
  [ -f "$out/.built" ] && return 0
  build etcd go.etcd.io/etcd/server/v3 "$out" \
    "-X go.etcd.io/etcd/api/v3/version.GitSHA=$v" \
    go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3
}

mkdir -p "$CACHE"
for what in "${@:-kubernetes etcd}"; do
  for w in $what; do "$w"; done
done
