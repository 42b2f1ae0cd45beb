#if canImport(Glibc)
import Glibc
#endif

/// A lab member's watch on the lab that started it: once the lab is gone (this process has been
/// handed to another parent), the member stops as if told to, so no member outlives its lab
/// holding the lab's ports.
enum LabParent {
    static func watch() {
        let parent = getppid()
        Task.detached {
            while getppid() == parent { try? await Task.sleep(for: .seconds(1)) }
            kill(getpid(), SIGTERM)
        }
    }
}
