"""A fault harness: a three-member cluster of real processes, clients recording every operation
(invoke and complete times, outcome) on a few hot keys through the v3 API (and, with
--v1-clients, v1 writes through the followers' redirects on keys of their own), and faults injected
while they run: kill -9 of the leader or of a random member and its restart, SIGSTOP/SIGCONT,
a follower removed, wiped and added back as a new member, and (--netns, as root) the leader cut
off from its peers, both ways or one way, and one member's links to its peers slowed or made
lossy at the packet level (netem.py; without --netns, --slow-links puts a relay in their place).
Afterwards every member is brought back, each key is read once more, and the checkers
(checker.py) judge the history: per-key linearizability, revisions never going back for a
client, acknowledged writes kept.

  python3 harness.py --binary .build/debug/etcd --seconds 30 --seed 7
  python3 harness.py --binary /usr/bin/etcd ...       # the same against the real etcd 3.4

Needs the PyPI etcd3 client (Tests/Integration/python-etcd3.sh makes the virtualenv). Prints a
summary line; on a violation, writes the history as JSON (with the seed) and exits 1.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

import etcd3
import grpc
from etcd3 import etcdrpc

import checker
import netns
import v1client
from cluster import Member, client_for, free_port, inject_faults, wait_healthy


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


def unavailability(history, fault_log):
    """Per fault kind, the longest time from the fault's start until a write begun after it was
    answered."""
    writes = sorted((op["call"], op["ret"]) for op in history if op["outcome"] == "ok" and op["kind"] != "get")
    longest = {}
    for fault in fault_log:
        after = [ret for call, ret in writes if call >= fault["at"]]
        # A fault in the run's last seconds may have no write after it: it measures nothing.
        if after:
            longest[fault["kind"]] = max(longest.get(fault["kind"], 0.0), min(after) - fault["at"])
    return longest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--keys", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    parser.add_argument("--faults", default="kill-leader,kill,stop,replace")
    parser.add_argument("--label", default="")
    parser.add_argument("--power-cut-shim", default=None,
                        help="faults.c built as a shared object: members run under its undo journal, and the power-cut fault plays it back")
    parser.add_argument("--v1-clients", type=int, default=0, help="clients writing through the v1 API (ours only)")
    parser.add_argument("--netns", action="store_true", help="each member in its own network namespace (root; partitions need it)")
    parser.add_argument("--known-etcd-bugs", action="store_true",
                        help="report etcd 3.4's known bugs (the reference run) apart, instead of as violations")
    parser.add_argument("--run-as", default=None, help="the user the members run as (with --netns, when root)")
    parser.add_argument("--slow-links", action="store_true",
                        help="each member's peer port behind a relay (slowlink.py), for the slow and lossy faults without --netns")
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    workdir = tempfile.mkdtemp(prefix="chaos-")
    names = [f"m{i}" for i in range(3)]
    faults = arguments.faults.split(",")
    network = None
    if arguments.netns:
        network = netns.Network(len(names), run_as=arguments.run_as)
        if arguments.run_as:
            shutil.chown(workdir, user=arguments.run_as, group=arguments.run_as)
        hosts = [network.host(i) for i in range(len(names))]
        ports = [(2379, 2380) for _ in names]  # each namespace has its own ports
        wraps = [lambda argv, i=i: network.command(i, argv) for i in range(len(names))]
    else:
        faults = [kind for kind in faults if kind not in ("partition-leader", "one-way")]
        hosts = ["127.0.0.1" for _ in names]
        ports = [(free_port(), free_port()) for _ in names]
        wraps = [lambda argv: argv for _ in names]
    cluster = ",".join(f"{name}=http://{host}:{peer}" for name, host, (_, peer) in zip(names, hosts, ports))
    members = [Member(arguments.binary, name, workdir, cluster, host, c, p, wrap)
               for name, host, (c, p), wrap in zip(names, hosts, ports, wraps)]
    endpoints = [member.endpoint for member in members]
    if arguments.power_cut_shim:
        for index, member in enumerate(members):
            # One member's writes also come up short, all run long.
            member.with_power_cuts(arguments.power_cut_shim, short_writes=index == 1)
    clean = False
    control = {}  # tells the watchers when the run is over
    try:
        if ("power-cut" in faults or "sync-fails" in faults) and not arguments.power_cut_shim:
            sys.exit("the power-cut and sync-fails faults need --power-cut-shim")
        if ("slow" in faults or "lossy" in faults) and not (arguments.slow_links or network):
            sys.exit("the slow and lossy faults need --netns (packets held and dropped) or --slow-links (a relay)")
        if arguments.slow_links:
            for member in members:
                # In a namespace of its own, the member listens on that namespace's loopback and the
                # relay on its address; on the shared loopback, the member takes a port of its own.
                member.behind_relay(("127.0.0.1", member.peer_port if network else free_port()))
        for member in members:
            member.start()
        if not wait_healthy(members):
            sys.exit(f"the cluster did not become healthy; logs in {workdir}")
        recorder = Recorder()
        keys = [f"hot/{i}" for i in range(arguments.keys)]
        deadline = time.monotonic() + arguments.seconds
        clients = [threading.Thread(target=run_client, args=(n, endpoints, keys, deadline, recorder, arguments.seed))
                   for n in range(arguments.clients)]
        v1_keys = [f"v1hot/{i}" for i in range(arguments.keys)]
        clients += [threading.Thread(target=run_v1_client, args=(100 + n, endpoints, v1_keys, deadline, recorder, arguments.seed))
                    for n in range(arguments.v1_clients)]
        fault_log = []
        faulter = threading.Thread(target=inject_faults, args=(members, deadline, rng, faults, fault_log, network))
        # Watches from the first revision, from now, and from a revision not reached yet.
        watches = [{"start": start, "created": None, "events": [], "cancels": []} for start in (1, 0, 40)]
        # Daemon threads, stopped in `finally` too: a run that ends early (a cluster that never
        # recovered) must not leave them retrying forever and the process waiting on them.
        watchers = [threading.Thread(target=run_watcher, args=(endpoints, log, control, random.Random(arguments.seed + n)), daemon=True)
                    for n, log in enumerate(watches)]
        compactions = []
        compactor = threading.Thread(target=compact_now_and_then, args=(endpoints, deadline, random.Random(arguments.seed), compactions))
        for thread in clients + [faulter, compactor] + watchers:
            thread.start()
        for thread in clients + [faulter, compactor]:
            thread.join()
        for member in members:
            member.resume()
            if member.process.poll() is not None:
                member.start(state="existing")
        if not wait_healthy(members):
            sys.exit(f"the cluster did not recover after the faults; logs in {workdir}")
        # The last word on each key, read linearizably once everything is back.
        final = {}
        reader = client_for(members[0].endpoint)
        for key in keys:
            call = time.monotonic()
            response = retried(lambda: reader.get_response(key))
            value = response.kvs[0].value.decode() if response.kvs else None
            final[key] = value
            recorder.add({"client": -1, "key": key, "kind": "get", "value": value, "call": call, "ret": time.monotonic(),
                          "outcome": "ok", "revision": response.header.revision, "expected": None, "succeeded": None})
        # v1 reads are local: the same member, having just answered linearizable v3 reads, has
        # applied everything committed before them, v1 entries included (one log feeds both).
        for key in v1_keys if arguments.v1_clients else []:
            call = time.monotonic()
            value = retried(lambda: v1client.read(members[0].endpoint, key))
            final[key] = value
            recorder.add({"client": -2, "key": key, "api": "v1", "kind": "get", "value": value, "call": call,
                          "ret": time.monotonic(), "outcome": "ok", "revision": None, "expected": None, "succeeded": None})
        history = recorder.history
        # The watchers catch up to the last revision (a few seconds at most), then stop.
        control["give_up"] = time.monotonic() + 15
        control["final"] = max(op["revision"] for op in history if op["client"] == -1)
        for thread in watchers:
            thread.join()
        for watch in watches:
            if watch["created"] is None:
                watch["created"] = 1
        try:
            problems = checker.linearizable(history, watches, control["final"])
        except checker.Inconclusive as error:
            problems = [f"inconclusive: {error}"]
        problems += checker.revisions_monotonic(history) + checker.acknowledged_writes_kept(history, final)
        # A member whose syncs fail must stop by itself: serving on, it could acknowledge what
        # it never made durable.
        problems += [f"{fault['member']} went on running for 10 s after every sync began to fail"
                     for fault in fault_log if fault["kind"] == "sync-fails" and not fault["stopped"]]
        # A fault that could not be injected ended the faults: the run did not test what it says.
        problems += [f"faults stopped: {fault['error']}" for fault in fault_log if fault["kind"] == "error"]
        # A relay that never applied a slow or lossy fault (or never ended it) ran a different
        # fault than the summary says: the run does not count.
        problems += [f"{fault['member']}'s relay did not apply the {fault['kind']} fault within 2 s"
                     for fault in fault_log if fault.get("applied") is False or fault.get("ended") is False]
        compacted_through = max((c["revision"] for c in compactions), default=0)
        known = [] if arguments.known_etcd_bugs else None
        problems += checker.watch_guarantees(watches, control["final"], history, compacted_through=compacted_through, known=known,
                                             compactions={c["revision"] for c in compactions})
        counts = {outcome: sum(1 for op in history if op["outcome"] == outcome) for outcome in ("ok", "fail", "unknown")}
        gaps = unavailability(history, fault_log)
        v1_ops = [op for op in history if op.get("api") == "v1" and op["client"] >= 0]
        if v1_ops:
            counts["v1"] = {outcome: sum(1 for op in v1_ops if op["outcome"] == outcome) for outcome in ("ok", "fail", "unknown")}
        cuts = [fault["undone"] for fault in fault_log if fault["kind"] == "power-cut"]
        if cuts:
            counts["power_cuts_undid_writes"] = cuts
        summary = {"label": arguments.label, "seed": arguments.seed, "operations": len(history), **counts,
                   "faults": len(fault_log), "fault_kinds": sorted({f["kind"] for f in fault_log}),
                   "longest_unavailable_s": {kind: round(gap, 2) for kind, gap in sorted(gaps.items())},
                   "compactions": len(compactions), "watch_events": sum(1 for w in watches for e in w["events"] if "revision" in e),
                   "violations": len(problems), **({"known_etcd_bugs": len(known)} if known else {})}
        print(json.dumps(summary))
        for bug in (known or [])[:5]:
            print("KNOWN ETCD BUG:", bug)
        if problems:
            path = os.path.join(tempfile.gettempdir(), f"chaos-history-{arguments.seed}.json")
            with open(path, "w") as out:
                json.dump({"seed": arguments.seed, "faults": fault_log, "history": history, "final": final, "watches": watches,
                           "final_revision": control["final"], "compacted_through": compacted_through,
                           "compactions": sorted({c["revision"] for c in compactions})}, out, indent=1)
            for problem in problems[:10]:
                print("VIOLATION:", problem)
            print(f"history written to {path}; replay the checkers with: python3 replay.py {path}; member logs in {workdir}")
            sys.exit(1)
        clean = True
    finally:
        if "final" not in control:
            control["give_up"] = 0
            control["final"] = 0
        for member in members:
            member.resume()
            member.kill()
            member.stop_relay()
        if network:
            network.close()
        # Logs and data stay for a run that failed, to read.
        if clean:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
