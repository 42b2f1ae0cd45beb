#!/usr/bin/env python3
"""A power cut, after the fact: reads the undo journal faults.c kept (FAULT_UNDO_JOURNAL) and
undoes what a disk that lost power before it flushed its cache may have lost:

- for each file, every write made after that file's last successful sync, newest first, then
  the file cut back to the size it had before the first of them (files created and never synced
  end up empty);
- with FAULT_DIR_OPS_UNDER, every change of a name whose directory was not synced after it,
  newest first: a rename (the file goes back to its old name, and a file it replaced comes back
  with its old bytes), a file or directory created (it is gone, with all in it), a file removed
  (it comes back, from the hard link the shim kept), a directory removed (it is made again,
  with its old mode and owner).

Writes follow a file across renames (its own or its directory's), so a file written, renamed
and never synced loses the writes under its new name; and across a removal, so a file that
comes back has lost its unsynced writes too.

  powercut.py JOURNAL        (the member must be dead: kill -9 first)
Prints how many writes, renames and creations it undid.
"""
import os
import shutil
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
        elif kind == b"U":
            yield ("U", text(), text())
        elif kind == b"D":
            path = text()
            mode, uid, gid = struct.unpack_from("<III", data, at)
            at += 12
            yield ("D", path, mode, uid, gid)
        else:
            name = text()
            offset, size, old_length = struct.unpack_from("<QQI", data, at)
            at += 20
            yield ("W", name, offset, size, data[at:at + old_length])
            at += old_length


def main():
    writes = {}    # path -> writes since its last sync, oldest first
    # Changes of names not yet made durable by a sync of their directory, oldest first:
    # ("R", old, new, replaced bytes or None), ("C", path), ("U", path, kept link),
    # ("D", path, mode, uid, gid).
    names = []
    kept = []      # every link the shim kept, to clean up
    for record in records(sys.argv[1]):
        kind = record[0]
        if kind == "S":
            path = record[1]
            writes.pop(path, None)
            # A directory's sync makes the names in it durable.
            names = [n for n in names if os.path.dirname(n[2] if n[0] == "R" else n[1]) != path]
        elif kind in ("C", "D"):
            names.append(record)
        elif kind == "U":
            names.append(record)
            kept.append(record[2])
            # The kept link is the same file: its unsynced writes are undone through it, so
            # the file comes back (if it does) as its last sync left it.
            if record[1] in writes:
                writes[record[2]] = writes.pop(record[1])
        elif kind == "R":
            _, old, new, content = record
            writes.pop(new, None)  # the file it replaced is gone, writes and all
            if old in writes:
                writes[new] = writes.pop(old)
            # A directory renamed (a restore's log, built apart and named last): the files in it
            # take their writes along.
            for path in [p for p in writes if p.startswith(old + "/")]:
                writes[new + path[len(old):]] = writes.pop(path)
            names.append(record)
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
    undone_names = 0
    for change in reversed(names):
        if change[0] == "R":
            _, old, new, content = change
            if os.path.exists(new) and not os.path.exists(old):
                os.rename(new, old)
                undone_names += 1
            if content is not None:
                with open(new, "wb") as file:
                    file.write(content)
                # Run as root over a member's files: the file comes back as its owner's, not root's.
                if os.path.exists(old):
                    owner = os.stat(old)
                    os.chown(new, owner.st_uid, owner.st_gid)
                    os.chmod(new, owner.st_mode & 0o7777)
        elif change[0] == "C":
            path = change[1]
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
                undone_names += 1
            elif os.path.lexists(path):
                os.remove(path)
                undone_names += 1
        elif change[0] == "D":
            _, path, mode, uid, gid = change
            if not os.path.lexists(path) and os.path.isdir(os.path.dirname(path)):
                os.mkdir(path, mode)
                os.chmod(path, mode)  # mkdir's mode is cut by the umask
                os.chown(path, uid, gid)
                undone_names += 1
        else:
            _, path, link = change
            if not os.path.lexists(path) and os.path.exists(link) and os.path.isdir(os.path.dirname(path)):
                os.link(link, path)
                undone_names += 1
    for link in kept:
        if os.path.exists(link):
            os.remove(link)
    print(f"power cut: undid {undone} unsynced writes in {len(writes)} files, {undone_names} unsynced names")


main()
