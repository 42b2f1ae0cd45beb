"""A network of our own for the fault harness: each member in its own network namespace, wired
to a bridge in the harness's namespace, so that a fault can cut chosen links. A cut is a
blackhole route inside a member's namespace (more specific than the subnet's), which drops what
that member sends to the member cut off: routes need no firewall, no kernel module beyond the
bridge, and nothing else on the machine sees them. Cutting both ends isolates two members from
each other while clients still reach both: a leader in the minority keeps its clients.

Latency and loss on a member's links go through netem.py (tun devices and a process that holds
or drops each packet): `tc netem` needs the sch_netem module, which this machine's kernel lacks.

Needs root (namespaces, links and routes); the members themselves run as `run_as` when given.
"""
import os
import re
import secrets
import subprocess
import sys
import threading
import time


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def available():
    """Whether this process may make namespaces and bridges, and tun devices (netem.py)."""
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        return False
    probe = f"chaos-probe-{os.getpid()}"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "netns", "del", probe)
        return True
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False


def _output(*argv):
    return subprocess.run(argv, capture_output=True, text=True).stdout


def _names():
    """The namespaces and links on the machine that look like a Network's: `c<tag>-m<i>`,
    `c<tag>br`, `c<tag>v<i>`."""
    namespaces = [line.split()[0] for line in _output("ip", "netns", "list").splitlines() if line.strip()]
    links = [line.split(":")[1].strip().split("@")[0] for line in _output("ip", "-o", "link", "show").splitlines()]
    return [n for n in namespaces if re.fullmatch(r"c[0-9a-f]+-m\d+", n)], [n for n in links if re.fullmatch(r"c[0-9a-f]+(br|v\d+)", n)]


def remove_named(tag):
    """Removes every namespace and link of the network named `tag`."""
    namespaces, _ = _names()
    for name in _named(tag):
        kind = ["ip", "netns", "del"] if name in namespaces else ["ip", "link", "del"]
        subprocess.run(kind + [name], stderr=subprocess.DEVNULL)


def _named(tag):
    """The links, then the namespaces, of the network named `tag`."""
    namespaces, links = _names()
    return [n for n in links + namespaces if re.match(rf"{tag}(-|br|v)", n)]


def _free_subnet():
    """A 198.18.N.0/24 no address or route of the machine uses: two bridges on one subnet would
    split its route, and the harness would reach neither cluster reliably."""
    used = {int(n) for n in re.findall(r"198\.18\.(\d+)\.", _output("ip", "-4", "-o", "addr", "show") + _output("ip", "-4", "route", "show"))}
    start = secrets.randbelow(250)
    for k in range(250):
        if (start + k) % 250 not in used:
            return f"198.18.{(start + k) % 250}"
    raise RuntimeError("every 198.18.N.0/24 is in use: leftover networks? see `ip -br link` and `ip netns list`")


class Network:
    def __init__(self, count, run_as=None):
        # Named at random, not after the process: process numbers repeat across containers that
        # share a network, and a name taken would fail `ip link add`, or worse, be deleted.
        self.tag = f"c{secrets.token_hex(3)}"
        # RFC 2544's benchmarking range: no real network of the machine's uses it.
        self.subnet = _free_subnet()
        self.bridge = f"{self.tag}br"
        self.namespaces = [f"{self.tag}-m{i}" for i in range(count)]
        self.run_as = run_as
        self.cuts = [set() for _ in range(count)]
        self.impairments = []
        try:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            run("ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
            for i, namespace in enumerate(self.namespaces):
                outside = f"{self.tag}v{i}"
                run("ip", "netns", "add", namespace)
                run("ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", namespace)
                run("ip", "link", "set", outside, "master", self.bridge)
                run("ip", "link", "set", outside, "up")
                run("ip", "-n", namespace, "addr", "add", f"{self.host(i)}/24", "dev", "eth0")
                run("ip", "-n", namespace, "link", "set", "eth0", "up")
                run("ip", "-n", namespace, "link", "set", "lo", "up")
        except BaseException:
            self.close()  # half a network is still one to take down
            raise

    def host(self, i):
        return f"{self.subnet}.{i + 1}"

    def command(self, i, argv):
        """`argv` run inside member i's namespace (as `run_as`, if given)."""
        prefix = ["ip", "netns", "exec", self.namespaces[i]]
        if self.run_as:
            prefix += ["setpriv", f"--reuid={self.run_as}", f"--regid={self.run_as}", "--clear-groups"]
        return prefix + list(argv)

    def cut(self, i, others):
        """Member i's packets to each of `others` are dropped from now on."""
        for j in others:
            if j not in self.cuts[i]:
                run("ip", "-n", self.namespaces[i], "route", "add", "blackhole", f"{self.host(j)}/32")
                self.cuts[i].add(j)

    def impair(self, i, others, delay=0.0, jitter=0.0, loss=0.0, seed=0):
        """From when this returns until heal(), every packet between member i and each of `others`
        (both ways) is held `delay` seconds (+ up to `jitter`) or, with probability `loss`,
        dropped: netem.py, in a process of its own."""
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netem.py")
        tag = f"{self.tag}n{len(self.impairments)}"
        process = subprocess.Popen(
            [sys.executable, script, self.namespaces[i], self.host(i), *(f"{self.namespaces[j]}:{self.host(j)}" for j in others),
             "--delay", str(delay), "--jitter", str(jitter), "--loss", str(loss), "--seed", str(seed), "--tag", tag],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # "ready" once its routes are in place; it exits (end of file here) if it cannot make them.
        # Setting up is a handful of `ip` commands: 10 s is far more than it takes.
        timer = threading.Timer(10, process.kill)
        timer.start()
        said = process.stdout.readline().strip()
        timer.cancel()
        if said != "ready":
            process.kill()
            _, error = process.communicate()
            raise RuntimeError(f"netem.py could not impair the link: {error.strip() or 'no answer within 10 s'}")
        self.impairments.append(process)

    def heal(self):
        failures = []
        for process in self.impairments:
            # Its devices, and the routes through them, go when it exits. One that ended before
            # it was told to ended the fault early: that is a failure of the run.
            ended_early = process.poll() is not None
            process.terminate()
            _, error = process.communicate()
            if ended_early:
                failures.append(f"netem.py ended before the fault did (exit {process.returncode}): {error.strip()}")
        self.impairments.clear()
        for i, cut in enumerate(self.cuts):
            for j in sorted(cut):
                run("ip", "-n", self.namespaces[i], "route", "del", "blackhole", f"{self.host(j)}/32")
            cut.clear()
        if failures:
            raise RuntimeError("; ".join(failures))

    def close(self):
        try:
            self.heal()
        except (RuntimeError, subprocess.CalledProcessError):
            pass  # the namespaces go next, and every route and device in them
        for i, namespace in enumerate(self.namespaces):
            # The veth pair first: deleting one end deletes both at once, where a namespace's
            # devices go some time after `ip netns del` returns, and a next Network may want the names.
            subprocess.run(["ip", "link", "del", f"{self.tag}v{i}"], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "del", namespace], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", self.bridge], stderr=subprocess.DEVNULL)
        # Deleting can lag (a namespace's devices go after `ip netns del` returns): look again,
        # for at most a couple of seconds, and say what stayed.
        for _ in range(10):
            if not _named(self.tag):
                return
            remove_named(self.tag)
            time.sleep(0.2)
        left = _named(self.tag)
        if left:
            print(f"netns: could not remove {', '.join(left)}", file=sys.stderr)
