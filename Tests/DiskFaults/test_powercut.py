"""powercut.py on journals written by hand: what it must undo, and what it must leave."""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "powercut.py")


def text(value):
    data = value.encode()
    return struct.pack("<I", len(data)) + data


def created(path):
    return b"C" + text(path)


def renamed(old, new, replaced=None):
    saved = struct.pack("<I", 0xFFFFFFFF) if replaced is None else struct.pack("<I", len(replaced)) + replaced
    return b"R" + text(old) + text(new) + saved


def removed(path, kept):
    return b"U" + text(path) + text(kept)


def removed_directory(path, mode=0o700):
    return b"D" + text(path) + struct.pack("<III", mode, os.getuid(), os.getgid())


def synced(path):
    return b"S" + text(path)


def wrote(path, offset, size_before, old_bytes):
    return b"W" + text(path) + struct.pack("<QQI", offset, size_before, len(old_bytes)) + old_bytes


class PowerCut(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.journal = os.path.join(self.directory, "undo")

    def path(self, name):
        return os.path.join(self.directory, name)

    def cut(self, *records):
        with open(self.journal, "wb") as out:
            out.write(b"".join(records))
        return subprocess.run([sys.executable, SCRIPT, self.journal], capture_output=True, text=True, check=True).stdout

    def write(self, name, content):
        with open(self.path(name), "wb") as file:
            file.write(content)

    def read(self, name):
        with open(self.path(name), "rb") as file:
            return file.read()

    def test_a_rename_before_its_directory_is_synced_is_undone_and_the_replaced_file_comes_back(self):
        self.write("current", b"new state")
        self.cut(renamed(self.path("current.tmp"), self.path("current"), replaced=b"old state"))
        self.assertEqual(self.read("current.tmp"), b"new state")
        self.assertEqual(self.read("current"), b"old state")

    def test_a_rename_followed_by_a_sync_of_its_directory_stands(self):
        self.write("segment", b"entries")
        self.cut(renamed(self.path("segment.tmp"), self.path("segment")), synced(self.directory))
        self.assertEqual(self.read("segment"), b"entries")
        self.assertFalse(os.path.exists(self.path("segment.tmp")))

    def test_a_file_created_in_a_directory_never_synced_is_gone_even_if_its_bytes_were(self):
        self.write("spool", b"synced bytes")
        said = self.cut(created(self.path("spool")), synced(self.path("spool")))
        self.assertFalse(os.path.exists(self.path("spool")))
        self.assertIn("1 unsynced names", said)

    def test_unsynced_writes_follow_a_file_to_its_new_name(self):
        self.write("final", b"XXXX")
        self.cut(created(self.path("temp")), wrote(self.path("temp"), 0, 0, b""), renamed(self.path("temp"), self.path("final")),
                 synced(self.directory))
        # Written, renamed and the directory synced, but the file itself never: its bytes are lost.
        self.assertEqual(self.read("final"), b"")

    def test_a_directory_made_in_a_directory_never_synced_is_gone_with_everything_in_it(self):
        os.mkdir(self.path("wal"))
        self.write("wal/0.wal", b"acknowledged entries")
        said = self.cut(created(self.path("wal")), created(self.path("wal/0.wal")), synced(self.path("wal/0.wal")),
                        synced(self.path("wal")))
        self.assertFalse(os.path.exists(self.path("wal")))
        self.assertIn("unsynced names", said)

    def test_a_directory_synced_into_its_parent_stands(self):
        os.mkdir(self.path("wal"))
        self.write("wal/0.wal", b"acknowledged entries")
        self.cut(created(self.path("wal")), synced(self.directory), created(self.path("wal/0.wal")), synced(self.path("wal/0.wal")),
                 synced(self.path("wal")))
        self.assertEqual(self.read("wal/0.wal"), b"acknowledged entries")

    def test_a_file_removed_before_its_directory_is_synced_comes_back(self):
        self.write("old.snap", b"the snapshot")
        kept = self.journal + ".unlinked.1"
        os.link(self.path("old.snap"), kept)
        os.remove(self.path("old.snap"))
        said = self.cut(removed(self.path("old.snap"), kept))
        self.assertEqual(self.read("old.snap"), b"the snapshot")
        self.assertFalse(os.path.exists(kept))
        self.assertIn("1 unsynced names", said)

    def test_a_removal_followed_by_a_sync_of_its_directory_stands(self):
        self.write("old.snap", b"the snapshot")
        kept = self.journal + ".unlinked.1"
        os.link(self.path("old.snap"), kept)
        os.remove(self.path("old.snap"))
        self.cut(removed(self.path("old.snap"), kept), synced(self.directory))
        self.assertFalse(os.path.exists(self.path("old.snap")))
        self.assertFalse(os.path.exists(kept))

    def test_a_directory_removed_before_its_parent_is_synced_comes_back_with_its_files(self):
        os.mkdir(self.path("member"))
        self.write("member/id", b"8e9e05c52164694d")
        kept = self.journal + ".unlinked.1"
        os.link(self.path("member/id"), kept)
        os.remove(self.path("member/id"))
        os.rmdir(self.path("member"))
        said = self.cut(removed(self.path("member/id"), kept), removed_directory(self.path("member"), 0o750))
        self.assertEqual(os.stat(self.path("member")).st_mode & 0o777, 0o750)
        self.assertEqual(self.read("member/id"), b"8e9e05c52164694d")
        self.assertIn("2 unsynced names", said)

    def test_a_directory_removal_followed_by_a_sync_of_its_parent_stands(self):
        os.mkdir(self.path("member"))
        os.rmdir(self.path("member"))
        self.cut(removed_directory(self.path("member")), synced(self.directory))
        self.assertFalse(os.path.exists(self.path("member")))

    def test_a_removed_file_that_comes_back_has_lost_its_unsynced_writes(self):
        self.write("snap", b"synced")
        kept = self.journal + ".unlinked.1"
        os.link(self.path("snap"), kept)
        self.write("snap", b"newer!")  # same file: the link sees it
        os.remove(self.path("snap"))
        self.cut(wrote(self.path("snap"), 0, 6, b"synced"), removed(self.path("snap"), kept))
        self.assertEqual(self.read("snap"), b"synced")

    def test_unsynced_writes_follow_their_directory_to_its_new_name(self):
        os.mkdir(self.path("wal"))
        self.write("wal/0.wal", b"ENTRIES")
        self.cut(wrote(self.path("wal.restoring/0.wal"), 0, 0, b""), renamed(self.path("wal.restoring"), self.path("wal")),
                 synced(self.directory))
        # The directory's new name is durable; the file's bytes never were.
        self.assertEqual(self.read("wal/0.wal"), b"")


if __name__ == "__main__":
    unittest.main()
