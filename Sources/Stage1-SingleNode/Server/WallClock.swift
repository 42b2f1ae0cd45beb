#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where the shell reads the time. Injected, so tests move time by hand instead of sleeping.
public protocol WallClock: Sendable {
    /// The current instant.
    func now() -> Timestamp
}

/// The operating system's real-time clock.
public struct SystemWallClock: WallClock {
    /// Makes the system clock.
    public init() {}

    /// The current instant from `CLOCK_REALTIME`.
    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(nanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }
}

/// A clock that moves only when told to: for deterministic tests of TTLs.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Timestamp>

    /// Makes a clock stopped at `start`.
    public init(start: Timestamp = Timestamp(seconds: 1_700_000_000)) {
        current = Mutex(start)
    }

    /// The instant the clock was last set to.
    public func now() -> Timestamp { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(seconds: Int64 = 0, nanoseconds: Int64 = 0) {
        current.withLock { $0.nanoseconds += seconds * 1_000_000_000 + nanoseconds }
    }
}
