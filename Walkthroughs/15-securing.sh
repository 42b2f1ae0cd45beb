#!/usr/bin/env bash
# Securing a cluster: users with passwords, a role that may read and write one prefix, root,
# authentication turned on; then etcdctl refused without credentials, refused outside its
# role, accepted inside it, and a password change that ends the old password.
source "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
CLIENT_PORT=$(free_port); PEER_PORT=$(free_port)
EP=127.0.0.1:$CLIENT_PORT
ctl() { etcdctl --endpoints=$EP "$@" 2>&1 | grep -v '^{"level":"warn"'; }
echo "\$ etcd --name secure ..."
start_etcd secure --name secure --listen-client-urls http://$EP --advertise-client-urls http://$EP \
    --listen-peer-urls http://127.0.0.1:$PEER_PORT --initial-advertise-peer-urls http://127.0.0.1:$PEER_PORT \
    --initial-cluster secure=http://127.0.0.1:$PEER_PORT

echo '$ etcdctl user add root:rootpw && etcdctl user add app:apppw'
expect "$(ctl user add root:rootpw && ctl user add app:apppw)" $'User root created\nUser app created'
echo '$ etcdctl role add app-role && etcdctl role grant-permission app-role --prefix=true readwrite /app/'
expect "$(ctl role add app-role && ctl role grant-permission app-role --prefix=true readwrite /app/)" $'Role app-role created\nRole app-role updated'
echo '$ etcdctl user grant-role app app-role'
expect "$(ctl user grant-role app app-role)" 'Role app-role is granted to user app'
echo '$ etcdctl auth enable      # gives root the root role first, as etcdctl does'
expect "$(ctl auth enable)" 'Authentication Enabled'

echo '$ etcdctl put /app/config v1                      # no credentials'
expect "$(ctl put /app/config v1 || true)" 'Error: etcdserver: user name is empty'
echo '$ etcdctl --user app:wrong put /app/config v1'
expect "$(ctl --user app:wrong put /app/config v1 || true)" 'Error: etcdserver: authentication failed, invalid user ID or password'
echo '$ etcdctl --user app:apppw put /app/config v1'
expect "$(ctl --user app:apppw put /app/config v1)" 'OK'
echo '$ etcdctl --user app:apppw get /app/ --prefix'
expect "$(ctl --user app:apppw get /app/ --prefix)" $'/app/config\nv1'
echo '$ etcdctl --user app:apppw put /billing/rate 3     # outside its role'
expect "$(ctl --user app:apppw put /billing/rate 3 || true)" 'Error: etcdserver: permission denied'
echo '$ etcdctl --user app:apppw user list               # managing users is root'"'"'s'
expect "$(ctl --user app:apppw user list || true)" 'Error: etcdserver: permission denied'
echo '$ etcdctl --user root:rootpw get "" --from-key --keys-only'
expect "$(ctl --user root:rootpw get "" --from-key --keys-only)" '/app/config'

echo '$ etcdctl --user root:rootpw user passwd app --interactive=false <<< newpw'
expect "$(ctl --user root:rootpw user passwd app --interactive=false <<< newpw)" 'Password updated'
echo '$ etcdctl --user app:apppw get /app/config         # the old password no longer works'
expect "$(ctl --user app:apppw get /app/config || true)" 'Error: etcdserver: authentication failed, invalid user ID or password'
echo '$ etcdctl --user app:newpw get /app/config --print-value-only'
expect "$(ctl --user app:newpw get /app/config --print-value-only)" 'v1'
echo '$ etcdctl --user root:rootpw auth disable && etcdctl get /app/config --print-value-only'
expect "$(ctl --user root:rootpw auth disable && ctl get /app/config --print-value-only)" $'Authentication Disabled\nv1'
