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
import atexit
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

import checker
import netns
import v1client
from cluster import Member, client_for, free_port, inject_faults, wait_healthy
from workload import Recorder, compact_now_and_then, retried, run_client, run_v1_client, run_watcher


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
        # Taken down however the run ends: the `finally` below closes it too (closing twice is
        # harmless), but a failure before it, or `timeout`'s SIGTERM, would leave it behind.
        atexit.register(network.close)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
