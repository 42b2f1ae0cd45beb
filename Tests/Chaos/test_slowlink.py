"""slowlink.py's relay, against an echo server on loopback: bytes pass unchanged and in order,
a delay holds each direction, loss holds some chunks longer, and ending the fault ends it."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slowlink  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowLinkTests(unittest.TestCase):
    def setUp(self):
        self.echo = socket.socket()
        self.echo.bind(("127.0.0.1", 0))
        self.echo.listen()
        threading.Thread(target=self.serve, daemon=True).start()
        self.directory = tempfile.mkdtemp()
        self.settings = os.path.join(self.directory, "link.json")
        self.port = free_port()
        self.relay = subprocess.Popen([sys.executable, os.path.join(HERE, "slowlink.py"), "127.0.0.1", str(self.port), "127.0.0.1",
                                       str(self.echo.getsockname()[1]), self.settings])
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def tearDown(self):
        self.client.close()
        self.relay.kill()
        self.relay.wait()
        self.echo.close()

    def serve(self):
        while True:
            try:
                connection, _ = self.echo.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(connection,), daemon=True).start()

    @staticmethod
    def answer(connection):
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    def set(self, **settings):
        with open(self.settings + ".new", "w") as file:
            json.dump(settings, file)
        os.replace(self.settings + ".new", self.settings)
        self.assertTrue(slowlink.wait_applied(self.settings, settings), "the relay did not take the settings within 5 s")

    def round_trip(self, payload):
        started = time.monotonic()
        self.client.sendall(payload)
        received = b""
        while len(received) < len(payload):
            received += self.client.recv(65536)
        return received, time.monotonic() - started

    def test_bytes_pass_unchanged_and_a_delay_holds_each_direction(self):
        payload = bytes(range(256)) * 64
        echoed, fast = self.round_trip(payload)
        self.assertEqual(echoed, payload)
        self.assertLess(fast, 0.3)
        self.set(delay=0.2)
        echoed, slow = self.round_trip(payload)
        self.assertEqual(echoed, payload)
        self.assertGreaterEqual(slow, 0.4)  # 0.2 s on the way there, 0.2 s back
        self.set()
        _, after = self.round_trip(b"x")
        self.assertLess(after, 0.3)

    def test_loss_holds_some_chunks_longer_and_keeps_them_in_order(self):
        self.set(loss=1.0)
        echoed, held = self.round_trip(b"abc")
        self.assertEqual(echoed, b"abc")
        self.assertGreaterEqual(held, 0.4)  # every chunk held 200-400 ms, each way
        self.set(loss=0.5)
        for n in range(10):
            echoed, _ = self.round_trip(b"message %d" % n)
            self.assertEqual(echoed, b"message %d" % n)


if __name__ == "__main__":
    unittest.main()
