"""Login tokens held by a client across members and across time, which etcdctl (a login per
command) cannot show. Uses the PyPI etcd3 client, whose login puts the token in each call's
metadata; a second client is handed the first one's token, as a client library moving between
endpoints does.

  auth-tokens.py across HOST:PORT HOST:PORT...    a token from the first member works on every
                                                  other, until users or roles change
  auth-tokens.py expiry HOST:PORT TTL             a token unused for longer than TTL seconds dies
"""
import sys
import time

import etcd3
import grpc


def client(endpoint, **credentials):
    host, port = endpoint.rsplit(":", 1)
    made = etcd3.client(host=host, port=int(port), timeout=5, **credentials)
    # The token goes as plain metadata: grpcio refuses call credentials on a plaintext channel.
    made.call_credentials = None
    return made


def borrow(endpoint, owner):
    """A client on `endpoint` that sends `owner`'s token, without logging in itself."""
    other = client(endpoint)
    other.metadata = owner.metadata
    return other


def error_of(call):
    try:
        call()
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"
    except Exception as error:  # etcd3 wraps some gRPC errors in its own types
        cause = error.__cause__ or error.__context__
        if isinstance(cause, grpc.RpcError):
            return f"{cause.code().name}: {cause.details()}"
        return f"{type(error).__name__}: {error}"
    return "no error"


def expect(what, got, wanted):
    if got != wanted:
        sys.exit(f"FAIL: {what}: got {got!r}, wanted {wanted!r}")
    print(f"{what}: {got}")


def across(endpoints):
    erin = client(endpoints[0], user="erin", password="erinpw")
    for endpoint in endpoints[1:]:
        value, _ = borrow(endpoint, erin).get("/team/k1")
        expect(f"erin's token from the first member, on {endpoint}", value, b"v1")
    root = client(endpoints[0], user="root", password="rootpw")
    root.put("/team/by-root", "1")
    # Changing users or roles makes tokens issued before it stale, on every member.
    from etcd3.etcdrpc import rpc_pb2
    role = rpc_pb2.AuthRoleAddRequest(name="another")
    root.auth_stub.RoleAdd(role, root.timeout, credentials=root.call_credentials, metadata=root.metadata)
    for endpoint in endpoints:
        expect(f"erin's old token on {endpoint} after a role was added",
               error_of(lambda: borrow(endpoint, erin).get("/team/k1")),
               "INVALID_ARGUMENT: etcdserver: revision of auth store is old")
    fresh = client(endpoints[-1], user="erin", password="erinpw")
    value, _ = borrow(endpoints[0], fresh).get("/team/k1")
    expect("a new login, used on the first member", value, b"v1")


def expiry(endpoint, ttl):
    erin = client(endpoint, user="erin", password="erinpw")
    value, _ = erin.get("/team/k1")
    expect("right after the login", value, b"v1")
    time.sleep(ttl / 2)
    value, _ = erin.get("/team/k1")
    expect(f"used again after {ttl / 2} s (each use restarts its time)", value, b"v1")
    time.sleep(ttl + 1.5)
    expect(f"unused for {ttl + 1.5} s", error_of(lambda: erin.get("/team/k1")), "UNAUTHENTICATED: etcdserver: invalid auth token")


if __name__ == "__main__":
    if sys.argv[1] == "across":
        across(sys.argv[2:])
    else:
        expiry(sys.argv[2], float(sys.argv[3]))
