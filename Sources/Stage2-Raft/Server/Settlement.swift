import Synchronization

/// A value set once, that any number of tasks wait for.
final class Settlement: Sendable {
    private let state = Mutex<(value: Bool?, waiters: [CheckedContinuation<Bool, Never>])>((nil, []))

    /// Sets the value, unless it is set already, and wakes everyone waiting.
    func settle(_ value: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func value() async -> Bool {
        await withCheckedContinuation { waiter in
            let settled = state.withLock { state -> Bool? in
                if let value = state.value { return value }
                state.waiters.append(waiter)
                return nil
            }
            if let settled { waiter.resume(returning: settled) }
        }
    }
}
