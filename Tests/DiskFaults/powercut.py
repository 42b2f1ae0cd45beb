#!/usr/bin/env python3
"""A power cut, after the fact: reads the undo journal faults.c kept (FAULT_UNDO_JOURNAL) and,
for each file, undoes every write made after that file's last successful sync, newest first,
then cuts the file back to the size it had before the first of them. What a disk that lost
power before it flushed its cache would hold. Files created and never synced end up empty.

  powercut.py JOURNAL        (the member must be dead: kill -9 first)
Prints how many writes it undid in how many files.
"""
import os
import struct
import sys


def records(path):
    with open(path, "rb") as journal:
        data = journal.read()
    at = 0
    while at < len(data):
        kind = data[at:at + 1]
        (length,) = struct.unpack_from("<I", data, at + 1)
        name = data[at + 5:at + 5 + length].decode()
        at += 5 + length
        if kind == b"S":
            yield ("S", name, None, None, None)
            continue
        offset, size, old_length = struct.unpack_from("<QQI", data, at)
        at += 20
        yield ("W", name, offset, size, data[at:at + old_length])
        at += old_length


def main():
    pending = {}  # path -> writes since its last sync, oldest first
    for kind, name, offset, size, old in records(sys.argv[1]):
        if kind == "S":
            pending.pop(name, None)
        else:
            pending.setdefault(name, []).append((offset, size, old))
    undone = 0
    for name, writes in pending.items():
        if not os.path.exists(name):
            continue  # removed since: nothing of it to lose
        with open(name, "r+b") as file:
            for offset, size, old in reversed(writes):
                file.seek(offset)
                file.write(old)
                undone += 1
            file.truncate(writes[0][1])
    print(f"power cut: undid {undone} unsynced writes in {len(pending)} files")


main()
