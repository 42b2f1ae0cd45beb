"""Checkers for histories recorded against an etcd cluster under faults.

A history is a list of operations, each a dict:
  client    which client ran it (its operations never overlap)
  key       the key it touched (operations on different keys are independent)
  kind      "put", "get", "cas", "delete" or "swap" (v1's set, which answers with the value it replaced)
  value     put, swap: the value written; get: the value read (None: no such key); cas: the new value
  previous  swap only, when "ok": the value it replaced (None: the key was new)
  api       "v1" for the v1 API's operations (their index is no revision; watches do not see them)
  expected  cas only: the value compared against
  call      when it was invoked (a monotonic clock, seconds)
  ret       when its answer came (None while the outcome is unknown)
  outcome   "ok" (answered), "fail" (refused: it did not take effect) or "unknown" (no answer:
            a write may or may not have taken effect)
  succeeded cas only, when "ok": whether the comparison held
  revision  the response header's revision when "ok"

`linearizable(history)` searches, key by key, for an order of the operations that respects
real time (an operation that returned before another was called comes first) and the register's
rules, as porcupine and Knossos do: depth first over the operations that may come next, each
state (which operations are placed, the register's value) visited once. Unknown writes may be
placed anywhere after their call, or left out.

Unknown writes are what makes that search explode: each may be placed at any point or not at
all, so a run with partitions (dozens of them per key) can exhaust any budget. Like etcd's own
robustness tests, `settle_unknown_writes` first decides them from what the watchers saw (every
revision of the run is one write, and each value is written once): a write whose value a watch
event shows took effect, by the time the first answer at or after that revision returned; one
whose value no event shows, when the watchers together saw every revision, did nothing. What
stays unknown is cut down too: unanswered writes of values nobody observed are alike, so the
search tries the earliest of them at each point rather than every subset (`_blind_writes`).
"""
import bisect
import math
import sys
import time


def _partition(history):
    keys = {}
    for op in history:
        if op["outcome"] == "fail":
            continue  # refused: no effect, nothing observed
        if op["kind"] == "get" and op["outcome"] != "ok":
            continue  # a read without an answer observed nothing
        keys.setdefault(op["key"], []).append(op)
    return keys


# What `_apply` answers for an operation that could not have answered as it did from a state
# (None is a state: the key does not exist).
IMPOSSIBLE = object()


def _apply(state, op):
    """The register after `op` from `state`, or IMPOSSIBLE if `op` could not have answered so there."""
    kind = op["kind"]
    if kind == "put":
        return op["value"]
    if kind == "swap":
        if op["outcome"] == "ok" and op["previous"] != state:
            return IMPOSSIBLE
        return op["value"]
    if kind == "delete":
        return None
    if kind == "get":
        return state if op["value"] == state else IMPOSSIBLE
    # cas
    holds = state == op["expected"]
    if op["outcome"] == "ok":
        if holds != op["succeeded"]:
            return IMPOSSIBLE
    return op["value"] if holds else state


# The register's value after an unanswered write of a value no operation ever observed: all such
# values are alike to every operation, so they are one state to the search.
BLIND = "<a value nobody observed>"


def _blind_writes(ops):
    """The operations with an unobserved written value replaced by BLIND, and which of them are
    unanswered puts: interchangeable, so the search need only try the earliest unplaced one (any
    linearization placing a later one could place the earliest there instead, since it was
    called no later and does the same)."""
    observed = set()
    for op in ops:
        if op["kind"] == "get":
            observed.add(op["value"])
        elif op["kind"] == "cas":
            observed.add(op["expected"])
        elif op["kind"] == "swap" and op["outcome"] == "ok":
            observed.add(op["previous"])
    out, blind = [], []
    for op in ops:
        if op["outcome"] == "unknown" and op["kind"] in ("put", "swap", "cas") and op["value"] not in observed:
            op = dict(op, value=BLIND)
        out.append(op)
        blind.append(op["outcome"] == "unknown" and op["kind"] in ("put", "swap") and op["value"] is BLIND)
    return out, blind


def linearizable_key(ops, initial=None, budget=2_000_000, give_up=None):
    """(True, order) or (False, the longest prefix of a linearization found). Gives up as
    inconclusive after `budget` steps or at the monotonic time `give_up` (a step's cost grows
    with the history, so steps alone do not bound the time on a long history or a slow
    machine); by default two minutes from now."""
    originals = sorted(ops, key=lambda op: op["call"])
    ops, blind = _blind_writes(originals)
    count = len(ops)
    calls = [op["call"] for op in ops]
    rets = [op["ret"] if op["outcome"] == "ok" else math.inf for op in ops]
    required = 0
    for i, op in enumerate(ops):
        if op["outcome"] == "ok":
            required |= 1 << i
    seen = set()
    best = []
    steps = 0
    if give_up is None:
        give_up = time.monotonic() + 120
    sys.setrecursionlimit(max(10_000, count * 4 + 100))

    def search(placed, first, state, order):
        # `placed`: a bitmask of the operations placed; `first`: the lowest index not placed.
        nonlocal best, steps
        steps += 1
        if steps > budget:
            raise Inconclusive(f"search budget exhausted after {budget} steps ({count} operations)")
        if steps % 10_000 == 0 and time.monotonic() > give_up:
            raise Inconclusive(f"search ran out of time after {steps} steps ({count} operations)")
        if placed & required == required:
            return True
        memo = (placed, state)
        if memo in seen:
            return False
        seen.add(memo)
        if len(order) > len(best):
            best = list(order)
        # An operation may come next only if it was called before every unplaced one returned.
        # Operations are in call order, so the scan stops at the first called after that.
        deadline = math.inf
        for i in range(first, count):
            if not placed >> i & 1 and rets[i] < deadline:
                deadline = rets[i]
        tried_blind = False
        for i in range(first, count):
            if calls[i] > deadline:
                break
            if placed >> i & 1:
                continue
            if blind[i]:
                if tried_blind:
                    continue
                tried_blind = True
            after = _apply(state, ops[i])
            if after is IMPOSSIBLE:
                continue
            now = placed | 1 << i
            lowest = first
            while lowest < count and now >> lowest & 1:
                lowest += 1
            order.append(i)
            if search(now, lowest, after, order):
                return True
            order.pop()
        return False

    ok = search(0, 0, initial, [])
    return ok, [originals[i] for i in best]


def settle_unknown_writes(history, watches, final_revision, first_revision=2):
    """The history with the unknown writes that the watchers decide made known (see the module's
    notes), and how many were settled. Watch data is trusted only as far as it is complete: if
    some revision from `first_revision` to `final_revision` was seen by no watcher (which the
    watch checker reports on its own), a write not seen stays unknown.

    A put or compare-and-set whose value a PUT event shows at revision R took effect there (a
    compare-and-set, so, held). Its answer is taken to have come by the time the first operation
    answered with a revision of R or more returned: that answer was made after R was applied. An
    unanswered delete leaves no value to match: when every DELETE event of its key is some
    answered delete's own revision, it deleted nothing, and is left out."""
    events = {}
    for watch in watches or []:
        for event in watch["events"]:
            if "revision" in event:  # not a marker (compacted, resumed)
                events.setdefault(event["revision"], event)
    complete = final_revision >= first_revision and all(r in events for r in range(first_revision, final_revision + 1))
    written_at = {}
    for revision, event in events.items():
        if event["type"] == "PUT":
            written_at.setdefault(event["value"], revision)
    writes = {}
    for op in history:
        if op["kind"] in ("put", "cas"):
            writes[op["value"]] = writes.get(op["value"], 0) + 1
    # The earliest return among answers at each revision or later: a suffix minimum.
    answered = sorted((op["revision"], op["ret"]) for op in history if op["outcome"] == "ok" and op.get("revision") is not None)
    revisions = [revision for revision, _ in answered]
    earliest = [math.inf] * (len(answered) + 1)
    for i in range(len(answered) - 1, -1, -1):
        earliest[i] = min(earliest[i + 1], answered[i][1])
    # Only a delete that deleted something made its revision (one of a missing key answers with
    # the current revision, made by someone else). Histories without the count: assumed it did.
    answered_deletes = {(op["key"], op["revision"]) for op in history
                        if op["kind"] == "delete" and op["outcome"] == "ok" and op.get("deleted", 1) > 0}
    unexplained_deletes = {event["key"] for revision, event in events.items()
                           if event["type"] == "DELETE" and (event["key"], revision) not in answered_deletes}
    settled, out = 0, []
    for op in history:
        if op.get("api") == "v1":
            pass  # another store's writes: the v3 watches say nothing of them
        elif op["outcome"] == "unknown" and op["kind"] in ("put", "cas") and writes[op["value"]] == 1:
            revision = written_at.get(op["value"])
            if revision is not None and events[revision]["key"] == op["key"]:
                ret = earliest[bisect.bisect_left(revisions, revision)]
                op = dict(op, outcome="ok", succeeded=True if op["kind"] == "cas" else None, revision=revision,
                          ret=None if ret == math.inf else ret)
                if op["ret"] is None:
                    op["outcome"] = "unknown"  # took effect, but no later answer bounds when
                settled += 1
            elif revision is None and complete:
                settled += 1
                continue
        elif op["outcome"] == "unknown" and op["kind"] == "delete" and complete and op["key"] not in unexplained_deletes:
            settled += 1
            continue
        out.append(op)
    return out, settled


class Inconclusive(Exception):
    """The search gave up before an answer: the history is kept and reported as such."""


def linearizable(history, watches=None, final_revision=0, seconds=180):
    """[] if every key's history is linearizable, else one message per key that is not. With the
    run's watches, their events settle the unknown writes first (`settle_unknown_writes`). The
    search over all keys gives up as inconclusive after `seconds`."""
    give_up = time.monotonic() + seconds
    if watches:
        history, _ = settle_unknown_writes(history, watches, final_revision)
    problems = []
    for key, ops in sorted(_partition(history).items(), key=lambda item: str(item[0])):
        ok, prefix = linearizable_key(ops, give_up=give_up)
        if not ok:
            placed = {id(op) for op in prefix}
            stuck = [op for op in ops if id(op) not in placed and op["outcome"] == "ok"]
            first = min(stuck, key=lambda op: op["call"]) if stuck else None
            problems.append(f"key {key!r}: not linearizable; {len(prefix)} of {len(ops)} operations placed, "
                            f"then none fits: {describe(first) if first else '?'} (after {describe(prefix[-1]) if prefix else 'the start'})")
    return problems


def revisions_monotonic(history):
    """Each client's answered operations see revisions that never go backwards."""
    problems = []
    last = {}
    for op in sorted(history, key=lambda op: (op["client"], op["call"])):
        if op["outcome"] != "ok" or op.get("revision") is None:
            continue
        previous = last.get(op["client"])
        if previous is not None and op["revision"] < previous["revision"]:
            problems.append(f"client {op['client']}: revision went back from {previous['revision']} ({describe(previous)}) "
                            f"to {op['revision']} ({describe(op)})")
        last[op["client"]] = op
    return problems


def acknowledged_writes_kept(history, final):
    """Every key's final value (read after the faults) is one that a linearization allows: the
    last acknowledged write, or an unknown write that came after it. `final`: key -> value."""
    problems = []
    for key, ops in _partition(history).items():
        writes = [op for op in ops if op["kind"] in ("put", "swap", "cas", "delete") and op["outcome"] == "ok"
                  and (op["kind"] != "cas" or op["succeeded"])]
        if not writes:
            continue
        last = max(writes, key=lambda op: op["ret"])
        later_unknown = {op["value"] for op in ops if op["outcome"] == "unknown" and op["kind"] in ("put", "swap", "cas", "delete")}
        # Writes that overlapped the last one may have landed after it.
        later_ok = {op["value"] for op in writes if op["ret"] > last["call"]}
        allowed = later_unknown | later_ok
        if final.get(key) not in allowed:
            problems.append(f"key {key!r}: final value {final.get(key)!r}, but the last acknowledged write was {last['value']!r}")
    return problems


def describe(op):
    if op is None:
        return "?"
    what = {"put": f"put {op['value']!r}", "get": f"get -> {op['value']!r}", "delete": "delete",
            "swap": f"set {op['value']!r}" + (f" (replaced {op.get('previous')!r})" if op["outcome"] == "ok" else ""),
            "cas": f"cas {op['expected']!r} -> {op['value']!r}" + (f" ({'held' if op.get('succeeded') else 'failed'})" if op["outcome"] == "ok" else "")}[op["kind"]]
    ret = f"{op['ret']:.3f}" if op.get("ret") is not None else "?"
    return f"c{op['client']} {what} [{op['call']:.3f}, {ret}] {op['outcome']}"


def watch_guarantees(watches, final_revision, history, first_revision=2, compacted_through=0, known=None, compactions=()):
    """etcd's watch guarantees over what each watcher received. Every revision of the run is
    one write to the watched prefix (the workload writes nothing else), so a watcher must see
    each revision from where it started (or the first write) to the last, once, in order.

    `watches`: one dict per watcher: {"start": requested start revision (0: from now),
    "created": the revision its creation reported, "events": [{"revision", "key", "type",
    "value", "prev"}], in arrival order, across its reconnects}. An entry {"compacted": C}
    records that the watcher, resuming, was told its next revision was compacted away and went
    on from C: the revisions before C may be missing, and nothing else may. An entry {"resumed":
    R} records that its stream broke and it asked again from R (on any member).

    `compacted_through`: the highest revision compacted during the run. An event whose key's
    previous version is at or below it may come without `prev_kv`: etcd's API says "if the
    previous KV is already compacted, nothing will be returned" (a watcher catching up from
    history meets this). A wrong `prev_kv`, or a missing one for a version never compacted, is
    a violation.

    `known`: a list to put etcd's known bugs in instead of the violations (for the run against
    etcd 3.4, which has them): etcd #18089 (#19179), a delete at exactly the compaction revision
    is lost with its tombstone, so a watcher resuming there never gets it, whether it resumed
    there because it was told of the compaction or because its stream broke just before the
    delete. `compactions`: the revisions compacted at, to recognise the second case. None: they
    are violations."""
    problems = []
    written = {op["value"] for op in history if op["kind"] in ("put", "cas") and op["outcome"] != "fail"}
    # Deletes that removed a key: one that removed nothing answers with another write's revision.
    deletes = {op["revision"] for op in history if op["kind"] == "delete" and op["outcome"] == "ok" and op.get("deleted", 1) > 0}
    agreed = {}
    for number, watch in enumerate(watches):
        events = watch["events"]
        start = watch["start"] if watch["start"] > 0 else watch["created"] + 1
        expected = max(start, first_revision)
        seen_values, seen_revisions = {}, {}
        resumed_at = None
        for event in events:
            if "compacted" in event:
                # Gone from the store: the watcher may only pick up at the compaction.
                expected = max(expected, event["compacted"])
                resumed_at = event["compacted"]
                seen_values, seen_revisions = {}, {}
                continue
            if "resumed" in event:
                # Its stream broke: it asked again from here; nothing may be missing because of it.
                # After a compaction notice the harness resumes at that revision: still there.
                if event["resumed"] != resumed_at:
                    resumed_at = event["resumed"] if event["resumed"] in compactions else None
                continue
            revision = event["revision"]
            if revision < start:
                problems.append(f"watch {number}: an event at revision {revision}, before the requested start {start}")
            if revision < expected:
                problems.append(f"watch {number}: revision {revision} again or out of order (expected {expected})")
                continue
            if revision > expected:
                text = f"watch {number}: revisions {expected}..{revision - 1} missing before {revision}"
                if known is not None and revision == expected + 1 and expected == resumed_at and expected in deletes:
                    known.append(f"etcd #18089 (a delete at the compaction revision dropped): {text}")
                else:
                    problems.append(text)
            expected = revision + 1
            if event["type"] == "PUT" and event["value"] not in written:
                problems.append(f"watch {number}: revision {revision} put {event['value']!r}, which nobody wrote")
            previous = seen_values.get(event["key"])
            compacted_away = event.get("prev") is None and seen_revisions.get(event["key"], 0) <= compacted_through
            if previous is not None and event.get("prev") != previous and not compacted_away:
                problems.append(f"watch {number}: revision {revision}'s prev_kv is {event.get('prev')!r}, "
                                f"but {event['key']!r} was {previous!r}")
            seen_values[event["key"]] = event["value"] if event["type"] == "PUT" else None
            seen_revisions[event["key"]] = revision
            other = agreed.setdefault(revision, (event["key"], event["type"], event["value"]))
            if other != (event["key"], event["type"], event["value"]):
                problems.append(f"watch {number}: revision {revision} is {event['key']!r}={event['value']!r}, "
                                f"another watcher saw {other[0]!r}={other[2]!r}")
        if expected <= final_revision:
            problems.append(f"watch {number}: stopped at revision {expected - 1}, the run reached {final_revision}")
    return problems
