"""netem.py on a network of two namespaces (netns.py): packets between them held as long as
asked, dropped about as often as asked, and the link as before once the fault is healed.
Needs root, as the partitions do; skipped otherwise."""
import json
import subprocess
import sys
import unittest

import netns

# Inside member 1's namespace: a TCP echo of one byte at a time and a UDP echo, on port 9100.
ECHO = """
import socket, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((HOST, 9100))
    while True:
        data, peer = s.recvfrom(64); s.sendto(data, peer)
threading.Thread(target=udp, daemon=True).start()
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((HOST, 9100)); listener.listen()
print("listening", flush=True)
while True:
    connection, _ = listener.accept()
    while (data := connection.recv(1)):
        connection.sendall(data)
    connection.close()
"""

# Inside member 0's namespace: the round-trip times of 5 one-byte TCP exchanges, and how many of
# 300 UDP datagrams came back within 2 s; as one line of JSON.
PROBE = """
import json, socket, time
connection = socket.create_connection((HOST, 9100), timeout=60)
connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
times = []
for _ in range(5):
    began = time.monotonic(); connection.sendall(b"x"); connection.recv(1); times.append(time.monotonic() - began)
connection.close()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.setblocking(False)
answered = set()
for n in range(300):
    udp.sendto(str(n).encode(), (HOST, 9100)); time.sleep(0.001)
    # Read as answers come, or more than the socket's buffer holds would pile up and be dropped.
    try:
        while True:
            answered.add(udp.recv(64))
    except BlockingIOError:
        pass
udp.settimeout(0.05)
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    try:
        answered.add(udp.recv(64))
    except socket.timeout:
        pass
print(json.dumps({"rtt": times, "udp": len(answered)}))
"""


@unittest.skipUnless(netns.available(), "needs root and network namespaces")
class NetemTests(unittest.TestCase):
    def setUp(self):
        self.network = netns.Network(2)
        self.addCleanup(self.network.close)
        host = self.network.host(1)
        self.echo = subprocess.Popen(self.network.command(1, [sys.executable, "-c", f"HOST = {host!r}\n{ECHO}"]),
                                     stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.echo.communicate)
        self.addCleanup(self.echo.kill)
        self.assertEqual(self.echo.stdout.readline().strip(), "listening")

    def probe(self):
        said = subprocess.run(self.network.command(0, [sys.executable, "-c", f"HOST = {self.network.host(1)!r}\n{PROBE}"]),
                              capture_output=True, text=True, timeout=120, check=True).stdout
        return json.loads(said)

    def routes(self, i):
        return subprocess.run(["ip", "-n", self.network.namespaces[i], "route"], capture_output=True, text=True, check=True).stdout

    def test_delay_holds_each_packet_both_ways(self):
        before = self.probe()
        self.assertLess(max(before["rtt"]), 0.05)
        self.network.impair(0, [1], delay=0.1)
        during = self.probe()
        # Each exchange is a packet each way, each held 100 ms.
        self.assertGreaterEqual(min(during["rtt"]), 0.2)
        self.assertLess(max(during["rtt"]), 0.5)
        self.assertEqual(during["udp"], 300)
        self.network.heal()
        self.assertLess(max(self.probe()["rtt"]), 0.05)

    def test_loss_drops_packets_and_tcp_still_delivers(self):
        self.assertEqual(self.probe()["udp"], 300)
        self.network.impair(0, [1], loss=0.2, seed=3)
        # The probe connects, exchanges over TCP (which retransmits what is lost: it finishes,
        # or probe() raises) and counts UDP round trips.
        during = self.probe()
        # A datagram and its answer each survive 80% of the time: about 192 of 300 round trips
        # (the standard deviation is about 8).
        self.assertGreater(during["udp"], 140)
        self.assertLess(during["udp"], 240)
        self.network.heal()
        self.assertEqual(self.probe()["udp"], 300)

    def test_healing_removes_the_devices_and_routes(self):
        self.network.impair(0, [1], delay=0.01)
        self.assertIn("dev " + self.network.tag + "n0m", self.routes(0))
        self.assertIn("dev " + self.network.tag + "n0p0", self.routes(1))
        self.network.heal()
        self.assertNotIn(self.network.tag + "n0", self.routes(0) + self.routes(1))


if __name__ == "__main__":
    unittest.main()
