"""A member's peer port behind a relay of ours, so that a fault can slow what reaches it: the
stand-in, in runs without network namespaces (not root), for the packet-level delay and loss of
netem.py (which in turn stands in for `tc netem`: this kernel has no sch_netem module).

The member listens where only the relay dials it; the address its peers know (its advertised
peer URL) is the relay's. Every chunk read from either side is written on after `delay`
seconds; with `loss`, each chunk is also, with that probability, held a further 200-400 ms: what
a lost segment costs a TCP stream (it is sent again after a retransmission timeout, and what
follows waits behind it, in order). Nothing is dropped or reordered: TCP would not let it be.

Settings come from a JSON file ({"delay": s, "loss": p}), read again every 50 ms, that the
harness rewrites to start and end a fault; no file, no slowing. The relay writes what it applies
beside it (SETTINGS_FILE.applied), so the harness knows when a fault has begun (`wait_applied`).

    python3 slowlink.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT SETTINGS_FILE
"""
import asyncio
import json
import os
import random
import sys
import time


class Settings:
    def __init__(self, path):
        self.path, self.current = path, {}

    async def follow(self):
        applied = None
        while True:
            try:
                with open(self.path) as file:
                    self.current = json.load(file)
            except (OSError, ValueError):
                self.current = {}
            if self.current != applied:
                applied = self.current
                with open(self.path + ".applied.new", "w") as file:
                    json.dump(applied, file)
                os.replace(self.path + ".applied.new", self.path + ".applied")
            await asyncio.sleep(0.05)


def wait_applied(path, settings, seconds=5):
    """Waits until the relay following `path` says it applies `settings` ({} for none); at most
    `seconds`. Returns whether it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(path + ".applied") as file:
                if json.load(file) == settings:
                    return True
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    return False


async def relay(reader, writer, settings, rng):
    """One direction of one connection: read, hold each chunk as the settings say, write in order."""
    queue = asyncio.Queue()

    async def read():
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            held = settings.current.get("delay", 0)
            if settings.current.get("loss") and rng.random() < settings.current["loss"]:
                held += rng.uniform(0.2, 0.4)
            await queue.put((time.monotonic() + held, data))
            if not data:
                return

    async def write():
        last = 0.0
        while True:
            release, data = await queue.get()
            last = max(last, release)  # in order: a held chunk holds what follows it
            if last > time.monotonic():
                await asyncio.sleep(last - time.monotonic())
            try:
                if not data:
                    writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError, RuntimeError):
                return

    reading = asyncio.ensure_future(read())
    await write()
    # The far side is gone: what still comes from this side has nowhere to go.
    reading.cancel()
    try:
        await reading
    except asyncio.CancelledError:
        pass


async def main(listen_host, listen_port, target_host, target_port, path):
    settings = Settings(path)
    rng = random.Random()

    async def connection(client_reader, client_writer):
        try:
            target_reader, target_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()  # the member is down (killed, restarting): so is its port
            return
        try:
            await asyncio.gather(relay(client_reader, target_writer, settings, rng), relay(target_reader, client_writer, settings, rng))
        finally:
            for writer in (client_writer, target_writer):
                writer.close()

    server = await asyncio.start_server(connection, listen_host, listen_port, reuse_address=True)
    following = asyncio.ensure_future(settings.follow())  # kept: a task nobody holds may be collected
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port, target, target_port, settings_path = sys.argv[1:6]
    asyncio.run(main(host, int(port), target, int(target_port), settings_path))
