/// Commits the v3 backend file's open batch once it is `--backend-batch-interval` old, and
/// deletes the rows a compaction freed a batch at a time in between, as etcd's backend commits
/// on a timer and its compactor deletes in batches with pauses: neither holds writes up long.
public enum BackendCommitter {
    /// Runs until cancelled.
    public static func run(machine: V3StateMachine, every interval: Duration) -> Task<Void, Never> {
        Task {
            var removing = false
            while !Task.isCancelled {
                // While rows wait to be deleted, come back soon: a batch, a pause, a batch.
                try? await Task.sleep(for: removing ? .milliseconds(10) : min(interval, .milliseconds(100)))
                removing = machine.backgroundStep()
            }
        }
    }
}
