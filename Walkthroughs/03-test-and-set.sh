#!/usr/bin/env bash
# README "Atomic Test and Set": success, failure, and prevValue= meaning "create only".
source "$(dirname "$0")/lib.sh"

CLIENT_PORT=$(free_port)
start_etcd node1 -c "127.0.0.1:$CLIENT_PORT" -s "127.0.0.1:$(free_port)" -n node1
C=http://127.0.0.1:$CLIENT_PORT

echo '$ curl -L http://127.0.0.1:4001/v1/keys/testAndSet -d value=one'
expect "$(curl -sL $C/v1/keys/testAndSet -d value=one)" \
    '{"action":"SET","key":"/testAndSet","value":"one","newKey":true,"index":3}'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/testAndSet -d prevValue=two -d value=three'
expect "$(curl -sL $C/v1/keys/testAndSet -d prevValue=two -d value=three)" \
    '{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: one!=two"}'

echo '$ curl -L http://127.0.0.1:4001/v1/keys/testAndSet -d prevValue=one -d value=two'
expect "$(curl -sL $C/v1/keys/testAndSet -d prevValue=one -d value=two)" \
    '{"action":"SET","key":"/testAndSet","prevValue":"one","value":"two","index":5}'

echo '# An empty prevValue means "only if the key does not exist yet":'
echo '$ curl -L http://127.0.0.1:4001/v1/keys/testAndSet -d prevValue= -d value=again'
expect "$(curl -sL $C/v1/keys/testAndSet -d prevValue= -d value=again)" \
    '{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: two!="}'
echo '$ curl -L http://127.0.0.1:4001/v1/keys/lock -d prevValue= -d value=mine'
expect "$(curl -sL $C/v1/keys/lock -d prevValue= -d value=mine)" \
    '{"action":"SET","key":"/lock","value":"mine","newKey":true,"index":7}'
