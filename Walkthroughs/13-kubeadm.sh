#!/usr/bin/env bash
# A member started exactly as kubeadm's etcd static pod starts it (its flags, its TLS layout:
# a server certificate for clients, a peer certificate, one CA, client certificates required),
# then used as the Kubernetes API server and the kubelet's probes use it.
source "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
cd "$WORK"
mkdir -p pki
"$ROOT/Scripts/make-certs.sh" pki server peer apiserver-etcd-client >/dev/null
C1=$(free_port); C2=$(free_port); P=$(free_port); M=$(free_port)
echo '# kubeadm writes these flags into /etc/kubernetes/manifests/etcd.yaml (its IP here is 127.0.0.1):'
cat <<'SHOW'
$ etcd --advertise-client-urls=https://127.0.0.1:2379 --cert-file=pki/server.pem --client-cert-auth=true \
    --data-dir=/var/lib/etcd --experimental-initial-corrupt-check=true \
    --experimental-watch-progress-notify-interval=5s --initial-advertise-peer-urls=https://127.0.0.1:2380 \
    --initial-cluster=node1=https://127.0.0.1:2380 --key-file=pki/server-key.pem \
    --listen-client-urls=https://127.0.0.1:2379,https://127.0.0.1:12379 --listen-metrics-urls=http://127.0.0.1:2381 \
    --listen-peer-urls=https://127.0.0.1:2380 --name=node1 --peer-cert-file=pki/peer.pem --peer-client-cert-auth=true \
    --peer-key-file=pki/peer-key.pem --peer-trusted-ca-file=pki/ca.pem --snapshot-count=10000 --trusted-ca-file=pki/ca.pem
SHOW
start_etcd node1 --advertise-client-urls="https://127.0.0.1:$C1" --cert-file=pki/server.pem --client-cert-auth=true \
    --data-dir="$WORK/var-lib-etcd" --experimental-initial-corrupt-check=true \
    --experimental-watch-progress-notify-interval=5s --initial-advertise-peer-urls="https://127.0.0.1:$P" \
    --initial-cluster="node1=https://127.0.0.1:$P" --key-file=pki/server-key.pem \
    --listen-client-urls="https://127.0.0.1:$C1,https://127.0.0.1:$C2" --listen-metrics-urls="http://127.0.0.1:$M" \
    --listen-peer-urls="https://127.0.0.1:$P" --name=node1 --peer-cert-file=pki/peer.pem --peer-client-cert-auth=true \
    --peer-key-file=pki/peer-key.pem --peer-trusted-ca-file=pki/ca.pem --snapshot-count=10000 --trusted-ca-file=pki/ca.pem
echo '# It starts, having compared its data with its peers first (kubeadm asks for that; a first member has none):'
grep -o "initial corruption checking passed; no corruption" "$WORK/node1.log"
! grep -q "accepted but has no effect" "$WORK/node1.log" || { echo "a kubeadm flag had no effect:" >&2; grep "no effect" "$WORK/node1.log" >&2; exit 1; }

echo
echo '# The API server writes with its client certificate (kubeadm: apiserver-etcd-client):'
tls=(--cacert pki/ca.pem --cert pki/apiserver-etcd-client.pem --key pki/apiserver-etcd-client-key.pem)
ctl() { etcdctl --endpoints="https://127.0.0.1:$C1" "${tls[@]}" "$@"; }
echo "\$ etcdctl --endpoints=https://127.0.0.1:2379 --cacert pki/ca.pem --cert pki/apiserver-etcd-client.pem --key pki/apiserver-etcd-client-key.pem \\"
echo "    put /registry/namespaces/default '{\"kind\":\"Namespace\"}'"
expect "$(ctl put /registry/namespaces/default '{"kind":"Namespace"}')" OK
echo '$ etcdctl ... get /registry/namespaces/default --print-value-only'
expect "$(ctl get /registry/namespaces/default --print-value-only)" '{"kind":"Namespace"}'
echo '$ etcdctl --endpoints=https://127.0.0.1:12379 ... endpoint health   # the second client URL'
expect "$(etcdctl --endpoints="https://127.0.0.1:$C2" "${tls[@]}" endpoint health 2>&1 | sed -E "s/:$C2/:12379/; s/took = [^ ]+/took = <t>/")" \
    'https://127.0.0.1:12379 is healthy: successfully committed proposal: took = <t>'
echo '$ etcdctl --endpoints=https://127.0.0.1:2379 --cacert pki/ca.pem get /registry --prefix   # no client certificate'
if output=$(etcdctl --endpoints="https://127.0.0.1:$C1" --cacert pki/ca.pem --dial-timeout=2s --command-timeout=3s get /registry --prefix 2>&1); then
    echo "MISMATCH: answered without a client certificate: $output" >&2; exit 1
fi
echo "$output" | grep -v '^{"level"' | tail -1
until_true 5 grep -q "TLS handshake failed on the client port: the client sent no certificate" "$WORK/node1.log"
echo "# the server's log says why:"
grep "TLS handshake failed" "$WORK/node1.log" | tail -1 | sed 's/^.*warning /warning /; s/remote=[^ ]*/remote=<client>/'

echo
echo "# The kubelet's probes, on the plain metrics port (Kubernetes 1.2x: /health?exclude=NOSPACE&serializable=true; later: /livez, /readyz):"
for path in '/health?exclude=NOSPACE&serializable=true' /livez /readyz; do
    echo "\$ curl 'http://127.0.0.1:2381$path'"
    body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$M$path" | tr -d '\n')
    case $path in /health*) expect "$body" '{"health":"true"} 200' ;; *) expect "$body" 'ok 200' ;; esac
done
echo '$ curl http://127.0.0.1:2381/readyz?verbose'
expect "$(curl -s "http://127.0.0.1:$M/readyz?verbose")" $'[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok'

echo
echo '$ etcd --version'
"$ETCD_BIN" --version
expect "$("$ETCD_BIN" --version | head -1)" 'etcd Version: 3.4.23'
