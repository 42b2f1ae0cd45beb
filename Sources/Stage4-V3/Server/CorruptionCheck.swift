import EtcdAPI
import Logging
import Raft
import SingleNode

/// `--experimental-initial-corrupt-check` and `--experimental-corrupt-check-time`: members
/// compare the hash of their key-value history (HashKV) at one revision, as etcd does, so a
/// member whose store silently diverged (a disk that returned wrong bytes, a bug) is caught
/// before it serves wrong data.
///
/// Peers are asked over the peer port (`RaftServer.askMember`), as etcd asks `/members/hashkv`:
/// with the peers' own TLS, and apart from the client API, whose HashKV needs root once
/// authentication is on. Only hashes taken at the same compaction are compared: a peer that
/// compacted more or less hashes a different history.
public enum CorruptionCheck {
    /// One peer's answer.
    public struct PeerHash: Sendable, Equatable {
        public var memberID: UInt64
        public var hash: UInt32
        public var compactRevision: Int64

        public init(memberID: UInt64, hash: UInt32, compactRevision: Int64) {
            self.memberID = memberID
            self.hash = hash
            self.compactRevision = compactRevision
        }
    }

    /// The peers whose history differs from this member's: same compaction, another hash.
    public static func mismatches(localHash: UInt32, localCompactRevision: Int64, peers: [PeerHash]) -> [UInt64] {
        peers.filter { $0.compactRevision == localCompactRevision && $0.hash != localHash }.map(\.memberID)
    }

    /// At start, before serving: compares with every peer that answers; throws on a mismatch
    /// (etcd: "found data inconsistency with peers", and the member does not start).
    public static func initial(backend: V3Backend, logger: Logger) async throws {
        // Caught up with the cluster first (a linearizable read's wait): the peers' client URLs
        // are published through the log, and a member killed before its commit index reached
        // disk learns the last of them from the leader. Without a leader (a whole cluster
        // starting), it goes on with what it has after the request timeout, as etcd does.
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if backend.raft.status.leader != 0, (try? await backend.confirmLinearizable()) != nil { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let (local, compact, revision) = try localHash(backend)
        logger.info("starting initial corruption check", metadata: ["revision": "\(revision)", "compact-revision": "\(compact)"])
        let (answers, failures) = await peerHashes(backend: backend, revision: revision)
        for failure in failures { logger.warning("cannot fetch hash from remote peer", metadata: ["error": "\(failure)"]) }
        let differing = mismatches(localHash: local, localCompactRevision: compact, peers: answers)
        guard differing.isEmpty else {
            let id = ClusterIdentity.hex(backend.raft.status.memberID)
            logger.critical("found data inconsistency with peers", metadata: ["differing": "\(differing.map(ClusterIdentity.hex))", "revision": "\(revision)"])
            throw CorruptionError(description: "\(id) found data inconsistency with peers")
        }
        if answers.isEmpty && !failures.isEmpty {
            // A whole cluster starting at once: no peer serves yet. Said plainly, not as a pass.
            logger.warning("initial corruption check compared with no peer (none answered); the periodic check, if on, compares later")
            return
        }
        logger.info("initial corruption checking passed; no corruption", metadata: ["peers-checked": "\(answers.count)"])
    }

    /// Every `interval`, on the leader: a mismatch raises the CORRUPT alarm through the log, so
    /// every member refuses writes until an operator looks (`etcdctl alarm list`).
    public static func periodic(every interval: Duration, backend: V3Backend, logger: Logger) -> Task<Void, Never> {
        Task {
            var hasPassed = false
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                let status = backend.raft.status
                guard status.leader != 0, status.leader == status.memberID else { continue }
                // Raised already: every member refuses changes until an operator disarms it.
                if backend.machine.read({ $0.alarms }).contains(where: { $0.kind == MVCCStore.Alarm.corrupt }) { continue }
                guard let (local, compact, revision) = try? localHash(backend) else { continue }
                let (answers, _) = await peerHashes(backend: backend, revision: revision)
                let differing = mismatches(localHash: local, localCompactRevision: compact, peers: answers)
                guard let first = differing.first else {
                    // Said once, so an operator sees the check runs; every round after is quiet.
                    if !hasPassed && !answers.isEmpty {
                        logger.info("periodic corruption check passed; no corruption", metadata: ["peers-checked": "\(answers.count)"])
                        hasPassed = true
                    }
                    continue
                }
                logger.error("found data inconsistency with a peer; raising the CORRUPT alarm", metadata: ["member": "\(ClusterIdentity.hex(first))"])
                var alarm = Etcdserverpb_AlarmRequest()
                alarm.action = .activate
                alarm.memberID = first
                alarm.alarm = .corrupt
                _ = try? await backend.write(.alarm(alarm), from: .server)
            }
        }
    }

    static func localHash(_ backend: V3Backend) throws -> (UInt32, Int64, Int64) {
        let hashed = try backend.machine.hashKV(at: 0)
        return (hashed.hash, hashed.compactRevision == 0 ? -1 : hashed.compactRevision, hashed.revision)
    }

    /// HashKV at `revision` from every other member, over the peer port, ten seconds each.
    static func peerHashes(backend: V3Backend, revision: Int64) async -> ([PeerHash], [String]) {
        let status = backend.raft.status
        var answers: [PeerHash] = [], failures: [String] = []
        for member in status.members where member.id != status.memberID {
            do {
                let answer = try await backend.raft.askMember(.hashKV(revision: revision), of: V3StateMachine.self, at: member.peerURL)
                guard case .hashed(let hash, let compactRevision, _) = answer else { throw CorruptionError(description: "an answer that is not a hash") }
                answers.append(PeerHash(memberID: member.id, hash: hash, compactRevision: compactRevision))
            } catch {
                failures.append("\(member.name) (\(member.peerURL)): \(error)")
            }
        }
        return (answers, failures)
    }
}

/// A member whose history differs from its peers'.
public struct CorruptionError: Error, CustomStringConvertible {
    public var description: String
}
