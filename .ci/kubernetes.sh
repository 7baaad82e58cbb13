#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the integration tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and a kubelet on containerd (Debian's packages),
# every Kubernetes binary built here from the k8s.io/kubernetes and etcd Go modules.
#
#   .ci/kubernetes.sh build    build the binaries (cached: a warm run does not rebuild)
#   .ci/kubernetes.sh up       build, then start what is down and verify the node is Ready
#   .ci/kubernetes.sh down     stop the cluster's processes (state is kept)
#
# Idempotent. Root, no systemd: daemons run in the background and log to $FASTAPI_CI_LOG_DIR.
# Network: pods get a private bridge range, but nothing here or in the tests sends traffic
# there; pods that must be reached run with hostNetwork and are reached on 127.0.0.1.
set -euo pipefail

KUBERNETES_VERSION=v1.36.3
STAGING_VERSION=v0.36.3 # the published twin of each staging module k8s.io/* of KUBERNETES_VERSION
ETCD_VERSION=v3.6.8     # the etcd k8s.io/kubernetes@$KUBERNETES_VERSION itself requires
# Bump when the build recipe below changes, so cached binaries are rebuilt.
BUILD_RECIPE=1

CACHE_DIR="${FASTAPI_CI_CACHE_DIR:-/var/cache/fastapi-ci}"
FASTAPI_CI_LOG_DIR="${FASTAPI_CI_LOG_DIR:-/var/log/fastapi-ci}"
FASTAPI_CI_STATE_DIR="${FASTAPI_CI_STATE_DIR:-/var/lib/fastapi-ci}"
BUILD_KEY="kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-r$BUILD_RECIPE"
WRAPPER_DIR="$CACHE_DIR/k8s-build"
BIN_DIR="$CACHE_DIR/k8s-bin/$BUILD_KEY"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd pause)

export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/cache" GOPATH="$CACHE_DIR/go/path"
export GOFLAGS=-mod=mod CGO_ENABLED=0

say() { printf 'kubernetes: %s\n' "$*" >&2; }
die() {
  printf 'kubernetes: ERROR: %s\n' "$*" >&2
  exit 1
}

binaries_built() {
  local binary
  [[ -f "$BIN_DIR/.built" ]] || return 1
  for binary in "${BINARIES[@]}"; do
    [[ -x "$BIN_DIR/$binary" ]] || return 1
  done
}

# write_wrapper_module: a module that requires k8s.io/kubernetes and points each of its
# staging modules (which its own go.mod replaces with ./staging/..., so `go install
# k8s.io/kubernetes/cmd/...@version` fails: kubernetes/kubernetes#79384) at the published twin.
write_wrapper_module() {
  local kubernetes_dir godebug staging
  kubernetes_dir="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -f "$kubernetes_dir/go.mod" ]] || die "go mod download k8s.io/kubernetes@$KUBERNETES_VERSION gave no module"
  rm -rf "$WRAPPER_DIR"
  mkdir -p "$WRAPPER_DIR/etcd"
  godebug="$(grep -E '^godebug ' "$kubernetes_dir/go.mod" || true)"
  {
    echo "module fastapi-ci.local/k8s-build"
    echo
    grep -E '^go [0-9.]+$' "$kubernetes_dir/go.mod"
    [[ -z "$godebug" ]] || printf '\n%s\n' "$godebug"
    echo
    echo "require ("
    echo "	k8s.io/kubernetes $KUBERNETES_VERSION"
    echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo ")"
    echo
    echo "replace ("
    # Lines like `	k8s.io/api => ./staging/src/k8s.io/api` in the replace block.
    while read -r staging; do
      echo "	$staging => $staging $STAGING_VERSION"
    done < <(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*$|\1|p' "$kubernetes_dir/go.mod")
    echo ")"
  } >"$WRAPPER_DIR/go.mod"
  grep -q '=> k8s.io/api ' "$WRAPPER_DIR/go.mod" || die "no staging modules found in $kubernetes_dir/go.mod"
  # etcd's own main package is etcdmain.Main behind a two-line main.
  cat >"$WRAPPER_DIR/etcd/main.go" <<'EOF'
// Command etcd is etcd's server, built in the same module as Kubernetes.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  cp "$kubernetes_dir/build/pause/linux/pause.c" "$WRAPPER_DIR/pause.c"
}

build() {
  if binaries_built; then
    say "binaries $BUILD_KEY cached in $BIN_DIR"
    return 0
  fi
  command -v go >/dev/null || die "no Go toolchain on PATH"
  command -v gcc >/dev/null || die "no gcc (the pause image's binary is built with it)"
  local started=$SECONDS version_flags major minor package
  say "building $BUILD_KEY (cold: many minutes; log in $FASTAPI_CI_LOG_DIR/kubernetes-build.log)"
  write_wrapper_module
  major="${KUBERNETES_VERSION#v}"
  minor="${major#*.}"
  major="${major%%.*}"
  minor="${minor%%.*}"
  version_flags=""
  for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_flags+=" -X $package.gitVersion=$KUBERNETES_VERSION -X $package.gitMajor=$major"
    version_flags+=" -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
    version_flags+=" -X $package.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$BIN_DIR.tmp"
  (
    cd "$WRAPPER_DIR"
    go build -p 2 -trimpath -ldflags "-s -w$version_flags" -o "$BIN_DIR.tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kubectl
    go build -p 2 -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
      -o "$BIN_DIR.tmp/etcd" ./etcd
    gcc -Os -static -Wall -Werror -o "$BIN_DIR.tmp/pause" pause.c \
      -DVERSION="\"$KUBERNETES_VERSION\""
  )
  rm -rf "$BIN_DIR"
  mv "$BIN_DIR.tmp" "$BIN_DIR"
  echo "$BUILD_KEY" >"$BIN_DIR/.built"
  say "built $BUILD_KEY in $((SECONDS - started)) s"
}

# ---------------------------------------------------------------------------------------
# The cluster. Everything on 127.0.0.1; the node is named (and addressed as) 127.0.0.1, so
# the apiserver reaches the kubelet (logs, exec) on loopback. The kubelet refuses a
# loopback --node-ip, but takes an IP given as --hostname-override as is (local-up-cluster.sh
# does the same).
K8S_STATE="$FASTAPI_CI_STATE_DIR/kubernetes"
PKI="$K8S_STATE/pki"
KUBECONFIG_FILE="$FASTAPI_CI_STATE_DIR/kubeconfig"
NODE_NAME=127.0.0.1
ETCD_CLIENT_PORT=12379 # not etcd's 2379: Debian's etcd-server, if installed, takes that one
ETCD_PEER_PORT=12380
APISERVER_PORT=6443
SERVICE_CIDR=10.0.0.0/24
# Pods that are not on the host network get an address here; nothing sends traffic to them.
POD_SUBNET=10.88.0.0/16
CONTAINERD_SOCKET=/run/fastapi-ci/containerd/containerd.sock
CONTAINERD_STATE=/run/fastapi-ci/containerd/state
PAUSE_IMAGE="fastapi-ci.local/pause:$KUBERNETES_VERSION"
FASTAPI_CI_REGISTRY="${FASTAPI_CI_REGISTRY:-127.0.0.1:5000}"
FASTAPI_CI_REGISTRY_USER="${FASTAPI_CI_REGISTRY_USER:-ci-user}"
FASTAPI_CI_REGISTRY_PASSWORD="${FASTAPI_CI_REGISTRY_PASSWORD:-ci-password-123}"
WAIT_SECONDS="${FASTAPI_CI_KUBERNETES_WAIT_SECONDS:-120}"
# Started in this order, stopped in the reverse.
DAEMONS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

pidfile() { echo "$K8S_STATE/$1.pid"; }
daemon_log() { echo "$FASTAPI_CI_LOG_DIR/$1.log"; }

daemon_running() {
  local pid
  [[ -f "$(pidfile "$1")" ]] || return 1
  pid="$(cat "$(pidfile "$1")")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# start_daemon NAME COMMAND...: detached (own session, no terminal), logging to its log;
# fd 9 (services.sh's lock) closed so the daemon does not hold it forever.
start_daemon() {
  local name="$1"
  shift
  say "starting $name (log: $(daemon_log "$name"))"
  setsid nohup "$@" >>"$(daemon_log "$name")" 2>&1 </dev/null 9>&- &
  echo "$!" >"$(pidfile "$name")"
}

# wait_for WHAT COMMAND...: poll COMMAND until it succeeds; die after WAIT_SECONDS.
wait_for() {
  local what="$1" deadline=$((SECONDS + WAIT_SECONDS))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not up within ${WAIT_SECONDS}s; see $FASTAPI_CI_LOG_DIR"
    sleep 1
  done
}

# ensure_daemon NAME HEALTH_FUNCTION START_FUNCTION: start NAME unless it is healthy or
# already starting, then wait until it is healthy.
ensure_daemon() {
  local name="$1" healthy="$2" start="$3"
  "$healthy" >/dev/null 2>&1 && return 0
  daemon_running "$name" || "$start"
  wait_for "$name" "$healthy"
  say "$name is up"
}

kubectl_admin() { "$BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# --- certificates (openssl; kept across runs, made once) -------------------------------
# issue NAME SUBJECT EXTENSIONS: a key and a certificate signed by the cluster CA.
issue() {
  local name="$1" subject="$2" extensions="$3"
  [[ -s "$PKI/$name.crt" ]] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -out "$PKI/$name.crt" \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$extensions") \
    2>/dev/null
  rm -f "$PKI/$name.csr"
}

client_cert() { issue "$1" "$2" "extendedKeyUsage=clientAuth"; }

ensure_certificates() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [[ ! -s "$PKI/ca.crt" ]]; then
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=fastapi-ci-kubernetes-ca" -days 3650 \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  issue apiserver "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue kubelet "/CN=$NODE_NAME" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
  client_cert admin "/O=system:masters/CN=fastapi-ci-admin"
  client_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  client_cert controller-manager "/CN=system:kube-controller-manager"
  client_cert scheduler "/CN=system:kube-scheduler"
  client_cert node "/O=system:nodes/CN=system:node:$NODE_NAME"
  if [[ ! -s "$PKI/service-account.key" ]]; then
    openssl genrsa -out "$PKI/service-account.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/service-account.key" -pubout -out "$PKI/service-account.pub" 2>/dev/null
  fi
}

# write_kubeconfig FILE CERT_NAME: credentials of that client certificate, all embedded.
write_kubeconfig() {
  local file="$1" name="$2"
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fastapi-ci
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: fastapi-ci
  context: {cluster: fastapi-ci, user: $name, namespace: default}
current-context: fastapi-ci
EOF
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

ensure_kubeconfigs() {
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$K8S_STATE/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$K8S_STATE/scheduler.kubeconfig" scheduler
  write_kubeconfig "$K8S_STATE/kubelet.kubeconfig" node
}

# --- containerd (Debian's, with its CRI plugin, on its own socket: not Docker's) --------
write_containerd_config() {
  mkdir -p "$K8S_STATE/containerd/certs.d/$FASTAPI_CI_REGISTRY" "$K8S_STATE/cni/net.d" \
    "$(dirname "$CONTAINERD_SOCKET")"
  cat >"$K8S_STATE/containerd/config.toml" <<EOF
# Generated by .ci/kubernetes.sh; edits are overwritten.
version = 2
root = "$K8S_STATE/containerd/root"
state = "$CONTAINERD_STATE"
[grpc]
  address = "$CONTAINERD_SOCKET"
[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot give the pause container the kubelet's
  # oom_score_adj of -998 ("failed to update /proc/self/oom_score_adj: Permission
  # denied"). This clamps every container's score to containerd's own (0) or above.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$K8S_STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$K8S_STATE/containerd/certs.d"
    [plugins."io.containerd.grpc.v1.cri".registry.configs."$FASTAPI_CI_REGISTRY".auth]
      username = "$FASTAPI_CI_REGISTRY_USER"
      password = "$FASTAPI_CI_REGISTRY_PASSWORD"
EOF
  chmod 600 "$K8S_STATE/containerd/config.toml"
  # The local registry speaks plain HTTP.
  cat >"$K8S_STATE/containerd/certs.d/$FASTAPI_CI_REGISTRY/hosts.toml" <<EOF
server = "http://$FASTAPI_CI_REGISTRY"
[host."http://$FASTAPI_CI_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  # A node stays NotReady without a CNI config, even for host-network pods (containerd#8419).
  cat >"$K8S_STATE/cni/net.d/10-fastapi-ci.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "fastapi-ci",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "fastapi-ci0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$K8S_STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET"}]]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io "$@"; }
containerd_healthy() { ctr --address "$CONTAINERD_SOCKET" version; }
start_containerd() {
  write_containerd_config
  start_daemon containerd containerd --config "$K8S_STATE/containerd/config.toml"
}

# The pod sandbox image, from pause.c of the same Kubernetes module: a docker-save tarball
# made by hand (one layer, /pause) and imported, so no image has to come from outside.
ensure_pause_image() {
  ctr_k8s images check "name==$PAUSE_IMAGE" 2>/dev/null | grep -q complete && return 0
  local dir layer_digest config_digest
  dir="$(mktemp -d)"
  tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$BIN_DIR" -cf "$dir/layer.tar" pause
  layer_digest="$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$layer_digest" >"$dir/config.json"
  config_digest="$(sha256sum "$dir/config.json" | cut -d' ' -f1)"
  mv "$dir/config.json" "$dir/$config_digest.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' \
    "$config_digest" "$PAUSE_IMAGE" >"$dir/manifest.json"
  tar -C "$dir" -cf "$dir/image.tar" manifest.json "$config_digest.json" layer.tar
  ctr_k8s images import "$dir/image.tar" >/dev/null
  rm -rf "$dir"
  say "imported $PAUSE_IMAGE"
}

# --- etcd and the control plane --------------------------------------------------------
etcd_healthy() {
  curl -sf --max-time 3 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"'
}
start_etcd() {
  start_daemon etcd "$BIN_DIR/etcd" --name fastapi-ci --data-dir "$K8S_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "fastapi-ci=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "" --quota-backend-bytes 1073741824
}

apiserver_healthy() { kubectl_admin get --raw /readyz; }
start_apiserver() {
  # --endpoint-reconciler-type=none: the `kubernetes` Service would otherwise get the
  # advertise address (loopback, rejected for an endpoint); without kube-proxy nothing
  # routes Service IPs anyway.
  start_daemon kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --allow-privileged \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/service-account.pub" \
    --service-account-signing-key-file "$PKI/service-account.key"
}

controller_manager_healthy() { curl -skf --max-time 3 https://127.0.0.1:10257/healthz; }
start_controller_manager() {
  local kubeconfig="$K8S_STATE/controller-manager.kubeconfig"
  start_daemon kube-controller-manager "$BIN_DIR/kube-controller-manager" \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" \
    --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --root-ca-file "$PKI/ca.crt" \
    --service-account-private-key-file "$PKI/service-account.key" \
    --use-service-account-credentials \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key"
}

scheduler_healthy() { curl -skf --max-time 3 https://127.0.0.1:10259/healthz; }
start_scheduler() {
  local kubeconfig="$K8S_STATE/scheduler.kubeconfig"
  start_daemon kube-scheduler "$BIN_DIR/kube-scheduler" \
    --kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" \
    --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
}

# --- the kubelet ------------------------------------------------------------------------
write_kubelet_config() {
  cat >"$K8S_STATE/kubelet.yaml" <<EOF
# Generated by .ci/kubernetes.sh; edits are overwritten.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
# These machines run cgroup v1 (kubelet 1.38 drops it) and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# Shared CI disks can be nearly full: evict, and collect images, only at the very end.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
}

kubelet_healthy() { curl -sf --max-time 3 http://127.0.0.1:10248/healthz; }
start_kubelet() {
  # Volume mounts need shared propagation from the root (kind and k3d do the same).
  mount --make-rshared /
  write_kubelet_config
  mkdir -p "$K8S_STATE/kubelet"
  start_daemon kubelet "$BIN_DIR/kubelet" --config "$K8S_STATE/kubelet.yaml" \
    --kubeconfig "$K8S_STATE/kubelet.kubeconfig" --root-dir "$K8S_STATE/kubelet" \
    --hostname-override "$NODE_NAME"
}

node_ready() {
  [[ "$(kubectl_admin get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
default_service_account() { kubectl_admin get serviceaccount default -n default; }

up() {
  local started=$SECONDS
  ((EUID == 0)) || die "run as root (starts containerd and the kubelet)"
  build
  mkdir -p "$K8S_STATE"
  ensure_certificates
  ensure_kubeconfigs
  ensure_daemon containerd containerd_healthy start_containerd
  ensure_pause_image
  ensure_daemon etcd etcd_healthy start_etcd
  ensure_daemon kube-apiserver apiserver_healthy start_apiserver
  ensure_daemon kube-controller-manager controller_manager_healthy start_controller_manager
  ensure_daemon kube-scheduler scheduler_healthy start_scheduler
  ensure_daemon kubelet kubelet_healthy start_kubelet
  wait_for "node $NODE_NAME Ready" node_ready
  wait_for "the default service account" default_service_account
  say "cluster up in $((SECONDS - started)) s (kubeconfig $KUBECONFIG_FILE)"
}

stop_daemon() {
  local name="$1" pid
  daemon_running "$name" || return 0
  pid="$(cat "$(pidfile "$name")")"
  kill "$pid"
  for _ in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -0 "$pid" 2>/dev/null && die "$name (pid $pid) did not stop within 30s"
  rm -f "$(pidfile "$name")"
  say "stopped $name (pid $pid)"
}

down() {
  local index task
  for ((index = ${#DAEMONS[@]} - 1; index >= 0; index--)); do
    if [[ "${DAEMONS[index]}" == containerd ]] && containerd_healthy >/dev/null 2>&1; then
      # The pods' containers outlive containerd (their shims do): end them first.
      for task in $(ctr_k8s tasks list -q 2>/dev/null); do
        ctr_k8s tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
      done
    fi
    stop_daemon "${DAEMONS[index]}"
  done
  # The pods' volumes (service account tokens on tmpfs) and sandboxes' /dev/shm outlive the
  # kubelet and containerd: unmount them, deepest first.
  findmnt -rn -o TARGET | grep -E "^($K8S_STATE|$(dirname "$CONTAINERD_SOCKET"))/" | sort -r \
    | while read -r target; do umount "$target" || say "could not unmount $target"; done
}

# The version column of services.sh's table.
describe() {
  local server
  server="$(kubectl_admin version -o json 2>/dev/null | sed -n 's/^ *"gitVersion": "\(.*\)",$/\1/p' | tail -1)"
  printf '%s, node %s %s\n' "${server:-?}" "$NODE_NAME" \
    "$(node_ready 2>/dev/null && echo Ready || echo 'not ready')"
}

main() {
  mkdir -p "$FASTAPI_CI_LOG_DIR" "$FASTAPI_CI_STATE_DIR"
  case "${1:-up}" in
    build) build ;;
    up) up ;;
    down) down ;;
    describe) describe ;;
    *) die "usage: $0 build|up|down|describe" ;;
  esac
}
main "$@"
