"""A client library no one here wrote: the Python `etcd3` package (PyPI) against this etcd.

    python3 Tests/Integration/python-etcd3.py HOST:PORT

Put/get/delete, a prefix read, a transaction, a watch that sees changes made after it
started, and a lease whose key goes away when the lease is revoked. Exits non-zero on the
first difference from what etcd would answer.
"""
import sys
import threading

import etcd3

host, port = sys.argv[1].rsplit(":", 1)
client = etcd3.client(host=host, port=int(port), timeout=10)


def check(what, actual, expected):
    if actual != expected:
        sys.exit(f"MISMATCH {what}: expected {expected!r}, got {actual!r}")
    print(f"ok  {what}: {actual!r}")


client.put("/py/greeting", "hello")
value, meta = client.get("/py/greeting")
check("get after put", value, b"hello")
check("version of a new key", meta.version, 1)
client.put("/py/greeting", "hello again")
check("version after a second put", client.get("/py/greeting")[1].version, 2)
client.put("/py/other", "x")
check("prefix read", sorted(v for v, _ in client.get_prefix("/py/")), [b"hello again", b"x"])

succeeded, _ = client.transaction(
    compare=[client.transactions.value("/py/greeting") == "hello again"],
    success=[client.transactions.put("/py/txn", "took the success branch")],
    failure=[client.transactions.put("/py/txn", "took the failure branch")],
)
check("transaction outcome", succeeded, True)
check("transaction write", client.get("/py/txn")[0], b"took the success branch")

events = []
seen = threading.Event()


def on_change(response):
    events.extend(response.events)
    if len(events) >= 2:
        seen.set()


watch_id = client.add_watch_prefix_callback("/py/watched/", on_change)
client.put("/py/watched/a", "1")
client.delete("/py/watched/a")
seen.wait(10)
client.cancel_watch(watch_id)
check("watched events", [type(e).__name__ for e in events[:2]], ["PutEvent", "DeleteEvent"])

lease = client.lease(60)
client.put("/py/leased", "v", lease=lease)
check("key on a lease", client.get("/py/leased")[0], b"v")
check("lease TTL granted", lease.granted_ttl, 60)
lease.revoke()
check("key after its lease is revoked", client.get("/py/leased")[0], None)

check("delete", client.delete("/py/other"), True)
check("get after delete", client.get("/py/other")[0], None)
print("python etcd3: all checks passed")
