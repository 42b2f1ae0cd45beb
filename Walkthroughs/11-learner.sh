#!/usr/bin/env bash
# Growing a cluster safely: the three machines of ./Procfile, then a fourth from
# ./Procfile.learner, added as a learner, promoted once it has caught up, and removed again;
# then leadership moved by hand. The Procfile lines are run as written.
source "$(dirname "$0")/lib.sh"
export ETCDCTL_API=3
for port in 4001 4002 4003 4004 7001 7002 7003 7004; do
    if ! python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$port))==0)"; then
        echo "port $port is in use: this walkthrough runs the Procfiles, which use 4001-4004 and 7001-7004" >&2; exit 1
    fi
done
cd "$WORK"

# procfile_start FILE NAME: runs NAME's line of FILE (from this repository) in the background.
procfile_start() {
    local line
    line=$(grep "^$2: " "$ROOT/$1" | sed "s#^$2: ##; s#\.build/debug/etcd#$ETCD_BIN#")
    [ -n "$line" ] || { echo "no $2 in $1" >&2; exit 1; }
    eval "exec $line" >>"$WORK/$2.log" 2>&1 &
    STARTED_PIDS+=($!)
    NODE_PID[$2]=$!
    until_true 20 grep -qs "ready to serve client requests" "$WORK/$2.log"
}
# Member IDs and the cluster ID differ from run to run; so does the order of the list
# etcdctl prints for ETCD_INITIAL_CLUSTER (the members' order, by ID): sorted here.
ids() {
    sed -E 's/ +\b[0-9a-f]{12,16}\b/ <id>/g; s/^\b[0-9a-f]{12,16}\b/<id>/' | while IFS= read -r line; do
        if [[ $line == ETCD_INITIAL_CLUSTER=* ]]; then
            list=${line#ETCD_INITIAL_CLUSTER=\"}; list=${list%\"}
            echo "ETCD_INITIAL_CLUSTER=\"$(echo "$list" | tr , '\n' | sort | paste -sd,)\""
        else
            echo "$line"
        fi
    done
}
ctl() { etcdctl --endpoints=127.0.0.1:4001 "$@"; }

echo '$ honcho start        # ./Procfile: node1, node2, node3'
for name in etcd1 etcd2 etcd3; do procfile_start Procfile "$name"; done
until_true 20 sh -c "etcdctl --endpoints=127.0.0.1:4001 member list 2>/dev/null | grep -c ', started, ' | grep -qx 3"
echo '$ etcdctl --endpoints=127.0.0.1:4001 put greeting hello'
expect "$(ctl put greeting hello)" 'OK'

echo '$ etcdctl --endpoints=127.0.0.1:4001 member add infra4 --peer-urls=http://127.0.0.1:7004 --learner'
added=$(ctl member add infra4 --peer-urls=http://127.0.0.1:7004 --learner)
expect "$(echo "$added" | ids)" 'Member <id> added to cluster <id>

ETCD_NAME="infra4"
ETCD_INITIAL_CLUSTER="infra4=http://127.0.0.1:7004,node1=http://127.0.0.1:7001,node2=http://127.0.0.1:7002,node3=http://127.0.0.1:7003"
ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.0.1:7004"
ETCD_INITIAL_CLUSTER_STATE="existing"'
learner=$(echo "$added" | awk 'NR==1{print $2}')
echo '$ etcdctl member list     # known by its peer URL until it starts'
expect "$(ctl member list | ids | grep 7004)" '<id>, unstarted, , http://127.0.0.1:7004, , true'
echo '$ etcdctl member promote <id>     # not yet: it has none of the log'
expect "$(ctl member promote "$learner" 2>&1 | grep -v '^{')" 'Error: etcdserver: can only promote a learner member which is in sync with leader'
echo '$ etcdctl member add infra5 --peer-urls=http://127.0.0.1:7005 --learner   # one learner at a time'
expect "$(ctl member add infra5 --peer-urls=http://127.0.0.1:7005 --learner 2>&1 | grep -v '^{')" 'Error: etcdserver: too many learner members in cluster'

echo '$ honcho -f Procfile.learner start'
procfile_start Procfile.learner etcd4
echo '$ etcdctl --endpoints=127.0.0.1:4004 get greeting --consistency=s   # a learner serves serializable reads'
until_true 10 sh -c "etcdctl --endpoints=127.0.0.1:4004 get greeting --consistency=s 2>/dev/null | grep -q hello"
expect "$(etcdctl --endpoints=127.0.0.1:4004 get greeting --consistency=s)" $'greeting\nhello'
echo '$ etcdctl --endpoints=127.0.0.1:4004 get greeting   # and refuses to promise a linearizable one'
# etcdctl retries an Unavailable answer (100 times, 25 ms apart), logging each, as with etcd.
refusal=$(etcdctl --endpoints=127.0.0.1:4004 get greeting 2>&1 || true)
expect "$(echo "$refusal" | grep -o 'code = [A-Za-z]* desc = [^"]*' | head -1)" 'code = Unavailable desc = etcdserver: rpc not supported for learner'
expect "$(echo "$refusal" | tail -1)" 'Error: etcdserver: rpc not supported for learner'
echo '$ etcdctl member list'
# It announces its name and client URL through the log once it runs.
until_true 10 sh -c "etcdctl --endpoints=127.0.0.1:4001 member list | grep -q ', infra4, '"
expect "$(ctl member list | ids | grep infra4)" '<id>, started, infra4, http://127.0.0.1:7004, http://127.0.0.1:4004, true'

echo '$ etcdctl member promote <id>'
until_true 10 sh -c "etcdctl --endpoints=127.0.0.1:4001 member promote $learner >/dev/null 2>&1"
expect "$(ctl member list | ids | grep infra4)" '<id>, started, infra4, http://127.0.0.1:7004, http://127.0.0.1:4004, false'
all=127.0.0.1:4001,127.0.0.1:4002,127.0.0.1:4003,127.0.0.1:4004
echo '$ etcdctl --endpoints=127.0.0.1:4001,...,127.0.0.1:4004 put counter 1   # four voters now'
expect "$(etcdctl --endpoints=$all put counter 1)" 'OK'
echo '$ etcdctl endpoint hashkv --cluster     # every member holds the same keys'
until_true 10 sh -c "[ \$(etcdctl --endpoints=$all endpoint hashkv 2>/dev/null | awk '{print \$2}' | sort -u | wc -l) = 1 ]"
hashes=$(etcdctl --endpoints=127.0.0.1:4001 endpoint hashkv --cluster)
echo "$hashes"
[ "$(echo "$hashes" | wc -l)" = 4 ] && [ "$(echo "$hashes" | awk '{print $2}' | sort -u | wc -l)" = 1 ] || { echo "hashes differ" >&2; exit 1; }

echo '$ etcdctl move-leader <infra4>     # hand leadership over, e.g. before maintenance'
leader=$(etcdctl --endpoints=$all endpoint status | awk -F', ' '$5=="true"{print $1}')
if [ "$leader" != 127.0.0.1:4004 ]; then
    expect "$(etcdctl --endpoints=$all move-leader "$learner" | ids)" 'Leadership transferred from <id> to <id>'
fi
expect "$(etcdctl --endpoints=$all endpoint status | awk -F', ' '$5=="true"{print $1}')" '127.0.0.1:4004'

echo '$ etcdctl member remove <infra4>     # it was the leader: it steps down, then exits'
expect "$(ctl member remove "$learner" | ids)" 'Member <id> removed from cluster <id>'
deadline=$((SECONDS + 10))
while kill -0 "${NODE_PID[etcd4]}" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "infra4 did not exit after its removal" >&2; exit 1; }
    sleep 0.05
done
grep -q "the member has been permanently removed from the cluster" "$WORK/etcd4.log"
echo '# infra4 logged "the member has been permanently removed from the cluster" and exited'
until_true 10 sh -c "etcdctl --endpoints=127.0.0.1:4001 put after-removal yes >/dev/null 2>&1"
echo '$ etcdctl member list'
expect "$(ctl member list | ids | sort)" '<id>, started, node1, http://127.0.0.1:7001, http://127.0.0.1:4001, false
<id>, started, node2, http://127.0.0.1:7002, http://127.0.0.1:4002, false
<id>, started, node3, http://127.0.0.1:7003, http://127.0.0.1:4003, false'

echo '$ kill -TERM <the leader>     # a graceful stop hands leadership over first'
three=127.0.0.1:4001,127.0.0.1:4002,127.0.0.1:4003
leader=$(etcdctl --endpoints=$three endpoint status | awk -F', ' '$5=="true"{print $1}')
name=etcd${leader##*:400}
kill -TERM "${NODE_PID[$name]}"
status=0
wait "${NODE_PID[$name]}" || status=$?
expect "exit $status" 'exit 0'
grep -q "leadership transferred before stopping" "$WORK/$name.log"
echo "# its log: leadership transferred before stopping"
others=$(echo $three | tr , '\n' | grep -v "$leader" | paste -sd,)
until_true 3 sh -c "etcdctl --endpoints=$others endpoint status 2>/dev/null | grep -q ', true, false, '"
expect "$(etcdctl --endpoints=$others put after-stop ok)" 'OK'
