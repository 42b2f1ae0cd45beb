/// Commits the v3 backend file's open batch once it is `--backend-batch-interval` old, and
/// deletes the rows a compaction freed a batch at a time in between, as etcd's backend commits
/// on a timer and its compactor deletes in batches with pauses: neither holds writes up long.
public enum BackendCommitter {
    /// Runs until cancelled.
    /// Also checkpoints the file's write-ahead log about once a second, on a connection of its
    /// own (see `Checkpointer`).
    public static func run(machine: V3StateMachine, every interval: Duration) -> Task<Void, Never> {
        let checkpointer = machine.backendPath.flatMap { try? Checkpointer(path: $0) }
        return Task.detached {
            var removing = false
            var lastCheckpoint = ContinuousClock.now
            while !Task.isCancelled {
                // While rows wait to be deleted, come back soon: a batch, a pause, a batch.
                try? await Task.sleep(for: removing ? .milliseconds(10) : min(interval, .milliseconds(100)))
                removing = machine.backgroundStep()
                if let checkpointer, lastCheckpoint.duration(to: .now) >= .seconds(1) {
                    checkpoint(with: checkpointer, for: machine)
                    lastCheckpoint = .now
                }
            }
        }
    }

    /// One checkpoint pass, and once the log is long and copied whole, the writer asked to start
    /// it over. Not while part of it is left (a reader held an older commit): the writer would
    /// copy all that under the store's lock.
    public static func checkpoint(with checkpointer: Checkpointer, for machine: V3StateMachine, restartAfter: Int = Checkpointer.restartAfter) {
        if let pass = checkpointer.run(), pass.frames >= restartAfter, pass.copied == pass.frames { machine.askToRestartLog() }
    }
}
