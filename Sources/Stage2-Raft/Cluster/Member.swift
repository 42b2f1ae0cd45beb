import BinaryCodec
import RaftCore

/// A member of the cluster: its ID, name and URLs, carried in its membership change.
///
/// A member founded or joined by name gets the ID its name hashes to, so every node derives
/// the same one; a member added through the v3 API (`etcdctl member add`) is known by its peer
/// URL only until it starts, so it gets a fresh ID, which it learns when it first joins and
/// keeps in its data directory (`member-id`).
public struct Member: Sendable, Hashable {
    /// The member's Raft ID.
    public var id: NodeID
    /// The name given with `-n`/`--name` (or derived), unique in the cluster; empty for a
    /// member added but not started yet.
    public var name: String
    /// Where peers reach it.
    public var peerURL: String
    /// Where clients reach it; empty until it publishes.
    public var clientURL: String

    /// Makes a member; without an `id`, the one its name hashes to.
    public init(name: String, peerURL: String, clientURL: String, id: NodeID? = nil) {
        self.name = name
        self.peerURL = peerURL
        self.clientURL = clientURL
        self.id = id ?? Self.id(forName: name)
    }

    /// The ID a name hashes to.
    public static func id(forName name: String) -> NodeID {
        let value = fnv1a(Array(name.utf8))
        return value == 0 ? 1 : value
    }

    /// 64-bit FNV-1a: small, stable across builds and platforms (Swift's Hasher is seeded).
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return value
    }

    /// Name and URLs, then the ID (entries from before IDs were stored end after the URLs,
    /// and decode to the name's ID).
    var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.blob(Array(name.utf8))
        writer.blob(Array(peerURL.utf8))
        writer.blob(Array(clientURL.utf8))
        writer.u64(id)
        return writer.bytes
    }

    init?(encoded bytes: [UInt8]) {
        var reader = ByteReader(bytes[...])
        guard let name = reader.string(), let peer = reader.string(), let client = reader.string() else { return nil }
        let id = reader.isAtEnd ? nil : reader.u64()
        self.init(name: name, peerURL: peer, clientURL: client, id: id)
    }
}
