"""Masks what differs by nature between two correct etcd servers in gateway answers: cluster,
member, lease and leader IDs, Raft terms and indexes, sizes, versions of the implementation,
peer and client URLs, and the lease part of lock and election keys. Reads a body (one JSON
value, or one per line for streams) on stdin, writes it normalized."""
import base64
import json
import re
import sys

MASKED = {"cluster_id", "member_id", "raft_term", "ID", "lease", "raftIndex", "raft_index", "dbSize",
          "db_size", "TTL", "dbSizeInUse", "db_size_in_use", "peerURLs", "clientURLs", "token", "hash",
          "raftAppliedIndex", "raft_applied_index", "blob", "remaining_bytes", "checksum"}
LEASED_KEY = re.compile(rb"^(.*/)[0-9a-f]{1,16}$")


def normalize(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in MASKED:
                out[key] = "<masked>"
            elif key == "leader" and not isinstance(item, dict):
                out[key] = "<masked>"  # a member ID (status), not a LeaderKey
            elif key == "version" and isinstance(item, str) and "." in item:
                out[key] = "<masked>"  # the server's version (status), not a key's
            elif key == "key" and isinstance(item, str):
                try:
                    raw = base64.b64decode(item, validate=True)
                    match = LEASED_KEY.match(raw)
                    out[key] = match.group(1).decode() + "<lease>" if match else item
                except Exception:
                    out[key] = item
            else:
                out[key] = normalize(item)
        return out
    if isinstance(value, list):
        return [normalize(item) for item in value]
    return value


text = sys.stdin.read()
lines = [line for line in text.split("\n") if line.strip()]
try:
    print(json.dumps(normalize(json.loads(text))))
except ValueError:
    for line in lines:
        try:
            print(json.dumps(normalize(json.loads(line))))
        except ValueError:
            print(line)
