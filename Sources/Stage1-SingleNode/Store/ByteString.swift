/// A string compared, hashed and ordered by its UTF-8 bytes, as Go compares strings.
///
/// Swift's `String ==` uses Unicode canonical equivalence: `"café"` precomposed and decomposed
/// are equal, and a combining mark after `/` fuses with it into one `Character`. For keys that
/// would merge distinct keys and hide path separators, so the store keys everything by bytes.
struct ByteString: Hashable, Comparable, Sendable, CustomStringConvertible {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: ByteString, rhs: ByteString) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    static func < (lhs: ByteString, rhs: ByteString) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    var description: String { string }
}

extension String {
    /// Byte-for-byte equality, as Go's `==` on strings.
    func isByteEqual(to other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
