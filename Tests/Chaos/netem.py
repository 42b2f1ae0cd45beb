"""Latency and loss at the packet level, in user space: what `tc netem` does, on a kernel without
sch_netem (this machine's, and CI's).

For as long as it runs, every IP packet between one member and the peers named is routed through
this process: a tun device in each namespace (netns.py's), a /32 route to the other end through
it, and this process reading each packet from one tun and writing it to the other after `delay`
seconds plus up to `jitter` more, or dropping it with probability `loss`. TCP sees real loss
(retransmissions, backoff) and real delay, as under netem. Packets keep their order in each
direction, as netem's without reordering.

When it exits its tun devices vanish, and their routes with them: the link is as before.

    netem.py MEMBER_NS MEMBER_IP PEER_NS:PEER_IP [...] --delay S --jitter S --loss P --seed N

Prints "ready" once every route is in place (a fault counts from then); SIGTERM ends it.
Needs root: it makes devices and routes.
"""
import argparse
import collections
import fcntl
import ipaddress
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000  # packets without tun's 4-byte header: the IP packet alone


def open_tun(name):
    """A tun device `name` in this process's namespace, read and written through the descriptor
    returned; it exists as long as the descriptor is open, wherever the device is moved."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def endpoints(packet):
    """(source, destination) of an IPv4 packet; None for anything else (IPv6 router
    solicitations and the like, which the kernel sends on any new device and nobody waits for)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    return packet[12:16], packet[16:20]


class Link:
    """The tun devices and what is held in them. `ends` maps an address (4 bytes) to the tun
    descriptor to write packets for it to: the member's own tun for the member's address, each
    peer's tun for the member's packets to that peer."""

    def __init__(self, member, peers, tag):
        (member_ns, member_ip) = member
        self.descriptors = []
        self.ends = {}
        member_fd = self._tun(f"{tag}m", member_ns)
        self.ends[ipaddress.IPv4Address(member_ip).packed] = member_fd
        for k, (peer_ns, peer_ip) in enumerate(peers):
            peer_fd = self._tun(f"{tag}p{k}", peer_ns)
            self.ends[ipaddress.IPv4Address(peer_ip).packed] = peer_fd
            # Each side's route to the other goes through its tun: the member's packets to the
            # peer come up here from the member's tun, and the peer's to the member from the
            # peer's; more specific than the subnet's route on eth0, so it wins while it exists.
            run("ip", "-n", member_ns, "route", "add", f"{peer_ip}/32", "dev", f"{tag}m", "src", member_ip)
            run("ip", "-n", peer_ns, "route", "add", f"{member_ip}/32", "dev", f"{tag}p{k}", "src", peer_ip)

    def _tun(self, name, namespace):
        fd = open_tun(name)
        self.descriptors.append(fd)
        run("ip", "link", "set", name, "netns", namespace)
        run("ip", "-n", namespace, "link", "set", name, "up")
        return fd


def forward(link, delay, jitter, loss, rng, stop):
    """Until `stop()`: each packet read from a tun is dropped with probability `loss`, or written
    to its destination's tun `delay` (+ up to `jitter`) seconds after it came, after any packet
    held before it for the same destination."""
    held = collections.defaultdict(collections.deque)  # destination fd -> deque of (due, packet)
    while not stop():
        now = time.monotonic()
        for fd, queue in held.items():
            while queue and queue[0][0] <= now:
                try:
                    os.write(fd, queue.popleft()[1])
                except OSError:
                    pass  # nothing listens at that end for the moment: the packet is lost
        due = [queue[0][0] for queue in held.values() if queue]
        timeout = max(0.0, min(due) - now) if due else 0.1
        try:
            readable, _, _ = select.select(link.descriptors, [], [], min(timeout, 0.1))
        except InterruptedError:
            continue
        for fd in readable:
            packet = os.read(fd, 65536)
            addresses = endpoints(packet)
            target = link.ends.get(addresses[1]) if addresses else None
            if target is None or target == fd or rng.random() < loss:
                continue
            queue = held[target]
            at = time.monotonic() + delay + rng.uniform(0, jitter)
            if queue and queue[-1][0] > at:
                at = queue[-1][0]  # never overtakes the packet before it
            queue.append((at, packet))


def end_with_parent():
    """Asks the kernel to end this process with SIGTERM when the thread that started it (the
    harness's fault thread, which heals every fault before it ends) goes, or the harness is
    killed or crashes: no impairment outlives its run."""
    try:
        import ctypes
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("member_ns")
    parser.add_argument("member_ip")
    parser.add_argument("peers", nargs="+", help="NAMESPACE:ADDRESS of each peer whose link to the member is impaired")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default=f"ne{os.getpid() % 100000}", help="prefix of the tun devices' names")
    arguments = parser.parse_args()
    stopping = []
    end_with_parent()
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    peers = [tuple(peer.split(":", 1)) for peer in arguments.peers]
    link = Link((arguments.member_ns, arguments.member_ip), peers, arguments.tag)
    print("ready", flush=True)
    forward(link, arguments.delay, arguments.jitter, arguments.loss, random.Random(arguments.seed), lambda: bool(stopping))
    # Exiting closes the descriptors: the devices go, and the routes through them.


if __name__ == "__main__":
    sys.exit(main())
