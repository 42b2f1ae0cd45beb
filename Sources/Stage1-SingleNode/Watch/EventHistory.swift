import DequeModule

/// The last few successful changes, oldest first, so a client can watch "from index N" and
/// miss nothing between two long polls.
///
/// The window holds `capacity` events (the `-m` flag). A watch from an index older than the
/// window is refused with error 401 rather than, as in the original, silently turned into a wait
/// for the next change: a client resuming after a gap must learn that it missed events.
public struct EventHistory: Sendable, Equatable {
    // Ascending by index; every event's index is greater than `clearedThrough`.
    private var events: Deque<V1Response> = []
    /// How many events the window keeps; `Int.max` means unlimited.
    public let capacity: Int
    /// The index of the newest event that fell out of the window; 0 while none has.
    public private(set) var clearedThrough: UInt64 = 0

    /// Makes an empty history keeping `capacity` events (negative means unlimited).
    public init(capacity: Int) {
        self.capacity = capacity < 0 ? Int.max : capacity
    }

    /// Rebuilds a history from a snapshot.
    init(capacity: Int, events: [V1Response], clearedThrough: UInt64) {
        self.capacity = capacity
        self.events = Deque(events)
        self.clearedThrough = clearedThrough
    }

    /// The events in the window, oldest first.
    public var retained: Deque<V1Response> { events }

    mutating func append(_ event: V1Response) {
        events.append(event)
        while events.count > capacity, let evicted = events.popFirst() {
            clearedThrough = evicted.index
        }
        if capacity == 0 { clearedThrough = event.index }
    }

    /// The first change at or after `index` to `prefix` or a key under it, nil if none has
    /// happened yet, or error 401 if changes that old have left the window.
    public func firstEvent(from index: UInt64, under prefix: String) -> Result<V1Response?, StoreError> {
        if index <= clearedThrough {
            return .failure(
                StoreError(.eventIndexCleared, cause: "the requested history has been cleared [\(clearedThrough + 1)/\(index)]"))
        }
        var low = events.startIndex, high = events.endIndex
        while low < high {
            let middle = (low + high) / 2
            if events[middle].index < index { low = middle + 1 } else { high = middle }
        }
        return .success(events[low...].first { KeyPath.isUnder($0.key, prefix: prefix) })
    }
}
