"""The cluster the fault harness runs, and the faults it injects: members as real processes (on
loopback, or each in its own network namespace, see netns.py), clients to them, and kill -9,
SIGSTOP, a member replaced, partitions, links slowed or made lossy (packets held and dropped by
netem.py in namespaces, or chunks held by slowlink.py's relays on loopback),
and power cuts (through Tests/DiskFaults' shim)."""
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import etcd3

import slowlink


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Member:
    """One member: on loopback, or (with a Network) at its own address in its own namespace;
    `wrap` turns its command line into the one that runs it there."""

    def __init__(self, binary, name, workdir, cluster, host, client_port, peer_port, wrap=lambda argv: argv):
        self.binary, self.name, self.workdir, self.cluster = binary, name, workdir, cluster
        self.host, self.client_port, self.peer_port, self.wrap = host, client_port, peer_port, wrap
        self.process = None
        self.stopped = False
        # Where the member itself listens for peers: its advertised peer address, unless a relay
        # (slowlink.py) stands there and passes peers on to it.
        self.listen_peer = (host, peer_port)
        self.relay = None
        self.link_settings = None
        # With power cuts: the disk-fault shim's environment, and the undo journal of this life.
        self.shim_env = None
        self.journal = None
        self.sync_trigger = None

    def with_power_cuts(self, shim, short_writes=False):
        """Runs the member under faults.c's undo journal, so a power cut can be played back, and
        with a trigger that makes every sync fail once it exists (the sync-fails fault); with
        `short_writes`, every write to disk goes only half through (callers must loop)."""
        self.journal = os.path.join(self.workdir, f"{self.name}.undo")
        self.sync_trigger = os.path.join(self.workdir, f"{self.name}.syncs-fail")
        self.shim_env = {"LD_PRELOAD": shim, "FAULT_UNDO_JOURNAL": self.journal,
                         "FAULT_DIR_OPS_UNDER": os.path.join(self.workdir, self.name), "FAULT_SYNC_FAILS_AFTER": self.sync_trigger}
        if short_writes:
            self.shim_env["FAULT_SHORT_WRITES"] = "1"

    def syncs_fail(self, seconds=10):
        """From now on every sync fails with EIO, as a dying disk's: the member must stop,
        having acknowledged nothing it did not sync. Returns whether it stopped (it is killed
        otherwise); the trigger is gone again when this returns."""
        with open(self.sync_trigger, "w"):
            pass
        deadline = time.monotonic() + seconds
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped = self.process.poll() is not None
        self.kill()
        os.remove(self.sync_trigger)
        return stopped

    def behind_relay(self, listen_peer):
        """The member listens for peers at `listen_peer`; a relay takes its advertised peer
        address, so that the slow and lossy faults can hold what reaches the member."""
        self.listen_peer = listen_peer
        self.link_settings = os.path.join(self.workdir, f"{self.name}.link.json")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slowlink.py")
        log = open(os.path.join(self.workdir, f"{self.name}.relay.log"), "ab")
        self.relay = subprocess.Popen(self.wrap([sys.executable, script, self.host, str(self.peer_port), *map(str, listen_peer),
                                                 self.link_settings]), stdout=log, stderr=log)

    def slow_link(self, delay=0.0, loss=0.0):
        """Returns whether the relay applied the settings. From now on, what passes through connections to the member's peer port (both ways) is
        held `delay` seconds, and with probability `loss` a further 200-400 ms; slow_link() ends
        it. For ours that is what its peers send it; etcd 3.4's peers also read the member's
        messages to them from streams they dial, so there it slows much of what it sends too."""
        temporary = self.link_settings + ".new"
        settings = {"delay": delay, "loss": loss}
        with open(temporary, "w") as file:
            json.dump(settings, file)
        os.replace(temporary, self.link_settings)
        # The fault (and its unavailability) counts from when the relay applies it; whether it
        # did within 2 s goes into the fault's record.
        return slowlink.wait_applied(self.link_settings, settings, seconds=2)

    def stop_relay(self):
        if self.relay and self.relay.poll() is None:
            self.relay.kill()
            self.relay.wait()

    @property
    def endpoint(self):
        return (self.host, self.client_port)

    def start(self, state="new"):
        client, peer = f"http://{self.host}:{self.client_port}", f"http://{self.host}:{self.peer_port}"
        listen_peer = "http://%s:%d" % self.listen_peer
        log = open(os.path.join(self.workdir, f"{self.name}.log"), "ab")
        if self.journal:
            # A new life: what the last one wrote is taken as on disk (a cut has been played back),
            # and the links the shim kept of files it removed are let go.
            if os.path.exists(self.journal):
                os.remove(self.journal)
            for kept in glob.glob(glob.escape(self.journal) + ".unlinked.*"):
                os.remove(kept)
        env = {**os.environ, **self.shim_env} if self.shim_env else None
        self.process = subprocess.Popen(self.wrap(
            [self.binary, "--name", self.name, "--data-dir", os.path.join(self.workdir, self.name),
             "--listen-client-urls", client, "--advertise-client-urls", client, "--listen-peer-urls", listen_peer,
             "--initial-advertise-peer-urls", peer, "--initial-cluster", self.cluster, "--initial-cluster-state", state]),
            stdout=log, stderr=log, env=env)
        self.stopped = False

    def power_cut(self):
        """kill -9, then every write since each file's last sync undone (Tests/DiskFaults/powercut.py):
        what a machine that lost power would find. Returns how many writes were undone."""
        self.kill()
        if not self.journal or not os.path.exists(self.journal):
            return 0
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "DiskFaults", "powercut.py")
        said = subprocess.run([sys.executable, script, self.journal], capture_output=True, text=True, check=True).stdout
        # "power cut: undid N unsynced writes in M files"
        return int(said.split()[3])

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        if self.stopped and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        self.stopped = False


def client_for(endpoint):
    host, port = endpoint
    made = etcd3.client(host=host, port=port, timeout=3)
    made.call_credentials = None
    return made


def leader_index(members):
    for member in members:
        if member.stopped or member.process.poll() is not None:
            continue
        try:
            status = client_for(member.endpoint).status()
            name = status.leader.name
            for index, candidate in enumerate(members):
                if candidate.name == name:
                    return index
        except Exception:  # noqa: BLE001
            continue
    return None


def inject_faults(members, deadline, rng, faults, log, network=None):
    """Injects `faults` until `deadline`, logging each in `log`; a fault that could not be
    injected ends the faults with an "error" entry, which fails the run."""
    try:
        run_faults(members, deadline, rng, faults, log, network)
    except Exception as error:  # noqa: BLE001: reported as the run's failure, not lost with the thread
        log.append({"kind": "error", "member": "-", "at": time.monotonic(), "until": time.monotonic(), "error": repr(error)})


def run_faults(members, deadline, rng, faults, log, network):
    # Every kind once, in an order of the seed's, before any kind comes again: a short run
    # (CI's) sees each of them.
    pending = []
    while time.monotonic() < deadline - 3:
        time.sleep(rng.uniform(1.5, 3.0))
        if not pending:
            pending = rng.sample(faults, len(faults))
        kind = pending.pop()
        if kind in ("kill-leader", "partition-leader", "one-way"):
            index = leader_index(members)
            if index is None:
                pending.insert(0, kind)  # no leader to pick this moment: after the others
                continue
        else:
            index = rng.randrange(len(members))
        member = members[index]
        started = time.monotonic()
        details = {}
        if kind in ("kill-leader", "kill"):
            down_and_back(member, member.kill, rng)
        elif kind == "power-cut":
            # Any member, leader or not, loses what it had not synced; it must still come back
            # (or refuse, naming a file, which fails the run) and the cluster lose nothing acked.
            details["undone"] = down_and_back(member, member.power_cut, rng)
        elif kind == "sync-fails":
            # The member's disk starts failing every sync (ours only: the shim's): it must stop by
            # itself, and come back on a good disk with everything it acknowledged.
            details["stopped"] = down_and_back(member, member.syncs_fail, rng)
        elif kind == "replace":
            # A membership change mid-run: a follower removed, its data wiped, and the same
            # machine added back as a new member that catches up from the others.
            leader = leader_index(members)
            followers = [j for j in range(len(members)) if j != leader and not members[j].stopped]
            if leader is None or not followers:
                pending.insert(0, kind)
                continue
            index = rng.choice(followers)
            member = members[index]
            started = time.monotonic()
            if not replace_member(members, index):
                log.append({"kind": "replace-failed", "member": member.name, "at": started, "until": time.monotonic()})
                continue
        elif kind in ("slow", "lossy") and network and not member.relay:
            # Every packet between one member and its peers (both ways) held 50-250 ms, or 10-30%
            # of them lost, as `tc netem` on its link would (netem.py): a leader's heartbeats
            # arrive late, or TCP stalls retransmitting them, while clients still reach it.
            others = [j for j in range(len(members)) if j != index]
            if kind == "slow":
                network.impair(index, others, delay=rng.uniform(0.05, 0.25), jitter=0.01, seed=rng.randrange(1 << 30))
            else:
                network.impair(index, others, delay=0.001, loss=rng.uniform(0.1, 0.3), seed=rng.randrange(1 << 30))
            started = time.monotonic()
            time.sleep(rng.uniform(1.5, 3.0))
            network.heal()
        elif kind in ("slow", "lossy"):
            # Without namespaces, a relay in front of the member's peer port holds what reaches it
            # (slowlink.py): what a slow or lossy link comes to above TCP.
            if kind == "slow":
                details["applied"] = member.slow_link(delay=rng.uniform(0.05, 0.25))
            else:
                details["applied"] = member.slow_link(delay=0.01, loss=rng.uniform(0.1, 0.3))
            started = time.monotonic()
            time.sleep(rng.uniform(1.5, 3.0))
            details["ended"] = member.slow_link()
        elif kind in ("partition-leader", "one-way"):
            # The leader cut from its peers (both ways, or only what it sends), while clients
            # still reach it: it must not acknowledge what a majority has not.
            others = [j for j in range(len(members)) if j != index]
            network.cut(index, others)
            if kind == "partition-leader":
                for j in others:
                    network.cut(j, [index])
            # Unavailability counts from when the routes are in place (each `ip` takes a few
            # milliseconds; writes begun meanwhile still went through).
            started = time.monotonic()
            time.sleep(rng.uniform(1.5, 3.0))
            network.heal()
        else:
            member.pause()
            time.sleep(rng.uniform(1.0, 2.0))
            member.resume()
        log.append({"kind": kind, "member": member.name, "at": started, "until": time.monotonic(), **details})


def down_and_back(member, take_down, rng):
    """Takes the member down (`take_down`: a kill, a power cut, a failing disk), leaves it down
    half a second to a second and a half, and starts it again on its data. Returns what
    `take_down` said."""
    said = take_down()
    time.sleep(rng.uniform(0.5, 1.5))
    member.start(state="existing")
    return said


def replace_member(members, index, seconds=15):
    """Removes member `index` from the cluster (asked of another member), wipes its data, adds it
    back by its peer URL and starts it as a member joining an existing cluster. Retries each step
    until `seconds` pass (a leader may be changing); False if it could not."""
    member = members[index]
    others = [m for j, m in enumerate(members) if j != index]
    peer_url = f"http://{member.host}:{member.peer_port}"
    member.kill()
    deadline = time.monotonic() + seconds
    removed = added = False
    while time.monotonic() < deadline and not added:
        try:
            client = client_for(random.choice(others).endpoint)
            if not removed:
                for listed in client.members:
                    if peer_url in listed.peer_urls:
                        client.remove_member(listed.id)
                removed = True
                shutil.rmtree(os.path.join(member.workdir, member.name), ignore_errors=True)
            client.add_member([peer_url])
            added = True
        except Exception:  # noqa: BLE001: no leader for a moment; ask again
            time.sleep(0.3)
    member.start(state="existing")
    return added


def wait_healthy(members, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            for member in members:
                client_for(member.endpoint).get("health-probe")
            return True
        except Exception:  # noqa: BLE001
            time.sleep(0.2)
    return False
