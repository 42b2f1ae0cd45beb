"""The harness's workload (harness.py): clients that record every operation they invoke, with
its invoke and complete times and outcome, for the checkers (checker.py); v3 clients on a few
hot keys, v1 clients through the followers' redirects, a watcher that resumes where its stream
broke, and compactions now and then, as auto-compaction makes them.
"""
import random
import threading
import time

import grpc
from etcd3 import etcdrpc

import v1client
from cluster import client_for


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.history = []

    def add(self, op):
        with self.lock:
            self.history.append(op)


def run_client(number, ports, keys, deadline, recorder, seed):
    rng = random.Random(seed * 1000 + number)
    client = client_for(rng.choice(ports))
    sequence = 0
    while time.monotonic() < deadline:
        key = rng.choice(keys)
        roll = rng.random()
        sequence += 1
        value = f"c{number}-{sequence}"
        op = {"client": number, "key": key, "call": time.monotonic(), "ret": None, "revision": None, "expected": None,
              "succeeded": None}
        try:
            if roll >= 0.95:
                op.update(kind="delete", value=None)
                response = client.delete(key, return_response=True)
                op["revision"] = response.header.revision
                op["deleted"] = response.deleted
            elif roll < 0.4:
                op.update(kind="get", value=None)
                response = client.get_response(key)
                op["value"] = response.kvs[0].value.decode() if response.kvs else None
                op["revision"] = response.header.revision
            elif roll < 0.68:
                op.update(kind="put", value=value)
                response = client.put(key, value)
                op["revision"] = response.header.revision
            else:
                # Compare-and-set against the value last seen on this key by anyone.
                with recorder.lock:
                    seen = [o["value"] for o in recorder.history if o["key"] == key and o.get("outcome") == "ok" and o["kind"] == "get"]
                expected = seen[-1] if seen and seen[-1] is not None else "none"
                op.update(kind="cas", value=value, expected=expected)
                succeeded, responses = client.transaction(
                    compare=[client.transactions.value(key) == expected], success=[client.transactions.put(key, value)], failure=[])
                op["succeeded"] = bool(succeeded)
            op["ret"] = time.monotonic()
            op["outcome"] = "ok"
        except Exception as error:  # noqa: BLE001: any failure decides only the outcome
            op["ret"] = None
            # A read without an answer observed nothing; a write may or may not have happened.
            op["outcome"] = "fail" if op["kind"] == "get" else "unknown"
            op["error"] = str(error)[:200]
            client = client_for(rng.choice(ports))
            time.sleep(0.05)
        recorder.add(op)


def run_v1_client(number, ports, keys, deadline, recorder, seed):
    """v1 writes through redirects (ours only: etcd 3.4 has no v1 API): sets, which answer with
    the value they replaced, and test-and-sets against the value this client last saw. v1 reads
    are served from each member's own store, as in v1, so they are not checked for
    linearizability; each write's previous value is the read that is."""
    rng = random.Random(seed * 1000 + number)
    endpoint = rng.choice(ports)
    sequence = 0
    last_seen = {}
    while time.monotonic() < deadline:
        key = rng.choice(keys)
        sequence += 1
        value = f"v{number}-{sequence}"
        op = {"client": number, "key": key, "api": "v1", "call": time.monotonic(), "ret": None, "revision": None,
              "expected": None, "succeeded": None, "value": value}
        try:
            if rng.random() < 0.4 and last_seen.get(key) is not None:
                op.update(kind="cas", expected=last_seen[key])
                status, answer = v1client.write(endpoint, key, value, prev_value=last_seen[key])
                if status == 200:
                    op["succeeded"] = True
                elif answer.get("errorCode") in (100, 101):  # no such key; a different value
                    op["succeeded"] = False
                else:
                    raise v1client.Refused(f"{status} {answer}")
            else:
                op.update(kind="swap")
                status, answer = v1client.write(endpoint, key, value)
                if status != 200:
                    raise v1client.Refused(f"{status} {answer}")
                op["previous"] = answer.get("prevValue")
            op["index"] = answer.get("index")
            op["ret"] = time.monotonic()
            op["outcome"] = "ok"
            last_seen[key] = value if op["succeeded"] in (True, None) else None
        except Exception as error:  # noqa: BLE001: no answer, or one that decides nothing
            # Refused before it was proposed: no connection, no leader known (error 300 without a
            # cause), or a proposal Raft dropped. Anything else may have happened.
            text = str(error)
            refused = ("Connection refused" in text or isinstance(error, v1client.Refused) and "hops" in text
                       or "'errorCode': 300" in text and ("'cause'" not in text or "proposal dropped" in text))
            op["outcome"] = "fail" if refused else "unknown"
            op["error"] = str(error)[:200]
            last_seen.pop(key, None)
            endpoint = rng.choice(ports)
            time.sleep(0.05)
        recorder.add(op)


def retried(read, seconds=30):
    """A final read, tried again for a while: a member just restarted may time out once. (A read
    changes nothing, so the interval from the first try to the answer holds it.)"""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return read()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_watcher(ports, log, control, rng):
    """A watch on every hot key from `log["start"]` (0: from now), resumed on another member from
    the next revision whenever its stream breaks, until `control` says the run is over and it
    has seen the final revision."""
    next_revision = log["start"]
    while True:
        final = control.get("final")
        if final is not None and (next_revision > final or time.monotonic() > control["give_up"]):
            return
        host, port = rng.choice(ports)
        channel = grpc.insecure_channel(f"{host}:{port}")
        create = etcdrpc.WatchCreateRequest(key=b"hot/", range_end=b"hot0", start_revision=max(next_revision, 0), prev_kv=True)
        if next_revision > 0 and (log["events"] or log["created"] is not None):
            log["events"].append({"resumed": next_revision})
        try:
            stream = etcdrpc.WatchStub(channel).Watch(iter([etcdrpc.WatchRequest(create_request=create)]), timeout=2)
            for response in stream:
                if response.created and log["created"] is None:
                    log["created"] = response.header.revision
                    if next_revision == 0:
                        next_revision = response.header.revision + 1
                if response.canceled:
                    log["cancels"].append(response.cancel_reason)
                    if response.compact_revision > 0:
                        # Behind a compaction: go on from the oldest revision kept, as clients do.
                        log["events"].append({"compacted": response.compact_revision})
                        next_revision = response.compact_revision
                    break
                for event in response.events:
                    kind = "PUT" if event.type == 0 else "DELETE"
                    log["events"].append({
                        "revision": event.kv.mod_revision, "key": event.kv.key.decode(), "type": kind,
                        "value": event.kv.value.decode() if kind == "PUT" else None,
                        "prev": event.prev_kv.value.decode() if event.HasField("prev_kv") and event.prev_kv.key else None})
                    next_revision = event.kv.mod_revision + 1
                final = control.get("final")
                if final is not None and next_revision > final:
                    break
        except grpc.RpcError:
            time.sleep(0.05)  # the member went away, or the two seconds ran out: resume elsewhere
        finally:
            channel.close()


def compact_now_and_then(ports, deadline, rng, log):
    """Compacts to 30 revisions behind the latest every few seconds, as auto-compaction would:
    watchers that fall behind must be told, and none may lose an event it was not told of."""
    while time.monotonic() < deadline - 2:
        time.sleep(rng.uniform(2.0, 4.0))
        try:
            client = client_for(rng.choice(ports))
            latest = client.get_response("hot/").header.revision
            if latest > 40:
                client.compact(latest - 30)
                log.append({"kind": "compact", "revision": latest - 30, "at": time.monotonic()})
        except Exception:  # noqa: BLE001: a member down now; the next round tries another
            pass
