"""Runs the checkers again on a history harness.py wrote: python3 replay.py HISTORY.json
[--known-etcd-bugs] (the reference run's: etcd 3.4's known bugs reported apart)"""
import json
import sys

import checker

recorded = json.load(open(sys.argv[1]))
known = [] if "--known-etcd-bugs" in sys.argv else None  # for a run against etcd 3.4
history = recorded["history"]
problems = (checker.linearizable(history, recorded.get("watches"), recorded.get("final_revision", 0))
            + checker.revisions_monotonic(history)
            + checker.acknowledged_writes_kept(history, recorded["final"])
            + checker.watch_guarantees(recorded.get("watches", []), recorded.get("final_revision", 0), history,
                                     compacted_through=recorded.get("compacted_through", 0),
                                     known=known,
                                     compactions=set(recorded.get("compactions", []))))
for bug in known or []:
    print("KNOWN ETCD BUG:", bug)
for problem in problems:
    print("VIOLATION:", problem)
print(f"{len(history)} operations, seed {recorded['seed']}: {len(problems)} violations")
sys.exit(1 if problems else 0)
