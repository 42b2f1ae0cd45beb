#!/usr/bin/env python3
"""A power cut, after the fact: reads the undo journal faults.c kept (FAULT_UNDO_JOURNAL) and
undoes what a disk that lost power before it flushed its cache may have lost:

- for each file, every write made after that file's last successful sync, newest first, then
  the file cut back to the size it had before the first of them (files created and never synced
  end up empty);
- with FAULT_DIR_OPS_UNDER, every rename whose directory was not synced after it, newest first
  (the file goes back to its old name, and a file it replaced comes back with its old bytes),
  then every file created in a directory not synced after its creation (it is gone).

Writes follow a file across renames, so a file written, renamed and never synced loses the
writes under its new name.

  powercut.py JOURNAL        (the member must be dead: kill -9 first)
Prints how many writes, renames and creations it undid.
"""
import os
import struct
import sys


def records(path):
    with open(path, "rb") as journal:
        data = journal.read()
    at = 0

    def text():
        nonlocal at
        (length,) = struct.unpack_from("<I", data, at)
        at += 4
        value = data[at:at + length].decode()
        at += length
        return value

    while at < len(data):
        kind = data[at:at + 1]
        at += 1
        if kind == b"C":
            yield ("C", text())
        elif kind == b"R":
            old, new = text(), text()
            (saved,) = struct.unpack_from("<I", data, at)
            at += 4
            content = None
            if saved != 0xFFFFFFFF:
                content = data[at:at + saved]
                at += saved
            yield ("R", old, new, content)
        elif kind == b"S":
            yield ("S", text())
        else:
            name = text()
            offset, size, old_length = struct.unpack_from("<QQI", data, at)
            at += 20
            yield ("W", name, offset, size, data[at:at + old_length])
            at += old_length


def main():
    writes = {}    # path -> writes since its last sync, oldest first
    renames = []   # (old, new, replaced bytes or None), not yet made durable by a directory sync
    created = []   # paths created, not yet made durable
    for record in records(sys.argv[1]):
        kind = record[0]
        if kind == "S":
            path = record[1]
            writes.pop(path, None)
            # A directory's sync makes the names in it durable.
            renames = [r for r in renames if os.path.dirname(r[1]) != path]
            created = [c for c in created if os.path.dirname(c) != path]
        elif kind == "C":
            created.append(record[1])
        elif kind == "R":
            _, old, new, content = record
            writes.pop(new, None)  # the file it replaced is gone, writes and all
            if old in writes:
                writes[new] = writes.pop(old)
            renames.append((old, new, content))
        else:
            _, name, offset, size, old_bytes = record
            writes.setdefault(name, []).append((offset, size, old_bytes))
    undone = 0
    for name, pending in writes.items():
        if not os.path.exists(name):
            continue  # removed since: nothing of it to lose
        with open(name, "r+b") as file:
            for offset, size, old_bytes in reversed(pending):
                file.seek(offset)
                file.write(old_bytes)
                undone += 1
            file.truncate(pending[0][1])
    names = 0
    for old, new, content in reversed(renames):
        if os.path.exists(new) and not os.path.exists(old):
            os.rename(new, old)
            names += 1
        if content is not None:
            with open(new, "wb") as file:
                file.write(content)
            # Run as root over a member's files: the file comes back as its owner's, not root's.
            if os.path.exists(old):
                owner = os.stat(old)
                os.chown(new, owner.st_uid, owner.st_gid)
                os.chmod(new, owner.st_mode & 0o7777)
    for path in reversed(created):
        if os.path.exists(path):
            os.remove(path)
            names += 1
    print(f"power cut: undid {undone} unsynced writes in {len(writes)} files, {names} unsynced names")


main()
