import BinaryCodec
import RaftCore

/// What a member's snapshot file holds besides Raft's metadata: the v1 store, the other
/// machine's state (Stage 4's v3 store), the member table and the members removed.
///
/// Formats, each still read: the v1 store alone (before the v3 store existed); version 2, a
/// container marked by a prefix no v1 store encoding starts with, holding both stores; version
/// 3, which adds the member table (a member added by peer URL has an ID its name does not give;
/// before it, members were read back from `/_etcd/machines`) and the removed members, refused
/// if they come back. Written as version 3.
public struct SnapshotContainer: Equatable, Sendable {
    var v1: [UInt8]
    /// The second machine's state; nil when the member runs none.
    var other: [UInt8]?
    /// Nil in formats that predate the table.
    var members: [Member]?
    var removed: Set<NodeID> = []

    static let magicV2: [UInt8] = Array("etcd-swift-snapshot/2\n".utf8)
    static let magicV3: [UInt8] = Array("etcd-swift-snapshot/3\n".utf8)
    static let noMemberTable = UInt32.max

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String { "the snapshot's container is damaged" }
    }

    public init(v1: [UInt8], other: [UInt8]?, members: [Member]?, removed: Set<NodeID> = []) {
        (self.v1, self.other, self.members, self.removed) = (v1, other, members, removed)
    }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes = Self.magicV3
        writer.blob(v1)
        writer.u8(other == nil ? 0 : 1)
        writer.blob(other ?? [])
        // No table at all (a container read from a format before it) is not an empty table: the
        // members are then read from the v1 store's machines. Written as a count of all ones.
        // (Found by the fuzzer: a re-encoded old container lost its members.)
        if let members {
            writer.u32(UInt32(members.count))
            for member in members.sorted(by: { $0.id < $1.id }) { writer.blob(member.encoded) }
        } else {
            writer.u32(Self.noMemberTable)
        }
        writer.u32(UInt32(removed.count))
        for id in removed.sorted() { writer.u64(id) }
        return writer.bytes
    }

    public init(decoding data: [UInt8]) throws(FormatError) {
        if data.starts(with: Self.magicV3) {
            var reader = ByteReader(data[Self.magicV3.count...])
            guard let v1 = reader.blob(), let hasOther = reader.u8(), let other = reader.blob(), let count = reader.u32()
            else { throw FormatError() }
            var members: [Member]? = count == Self.noMemberTable ? nil : []
            for _ in 0..<(count == Self.noMemberTable ? 0 : count) {
                guard let bytes = reader.blob(), let member = Member(encoded: bytes) else { throw FormatError() }
                members?.append(member)
            }
            guard let removedCount = reader.u32() else { throw FormatError() }
            var removed = Set<NodeID>()
            for _ in 0..<removedCount {
                guard let id = reader.u64() else { throw FormatError() }
                removed.insert(id)
            }
            guard reader.isAtEnd else { throw FormatError() }
            self.init(v1: v1, other: hasOther == 1 ? other : nil, members: members, removed: removed)
        } else if data.starts(with: Self.magicV2) {
            var reader = ByteReader(data[Self.magicV2.count...])
            guard let v1 = reader.blob(), let other = reader.blob(), reader.isAtEnd else { throw FormatError() }
            self.init(v1: v1, other: other, members: nil)
        } else {
            self.init(v1: data, other: nil, members: nil)
        }
    }

    /// Members from `/_etcd/machines` entries, whose values are `raft=<peer URL>&etcd=<client URL>`
    /// (for snapshots that predate the member table).
    static func members(from machines: [(name: String, value: String)]) -> [NodeID: Member] {
        var result: [NodeID: Member] = [:]
        for (name, value) in machines {
            var fields: [Substring: Substring] = [:]
            for pair in value.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            guard let raft = fields["raft"], let etcd = fields["etcd"] else { continue }
            let member = Member(name: name, peerURL: String(raft), clientURL: String(etcd))
            result[member.id] = member
        }
        return result
    }
}
