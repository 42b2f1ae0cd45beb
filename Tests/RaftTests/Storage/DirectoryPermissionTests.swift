import Testing

#if canImport(Glibc)
import Glibc
import RaftDisk
#endif

@Suite("Data directory permissions", .timeLimit(.minutes(3)))
struct DirectoryPermissionTests {
    @Test("A data directory is created 0700, and raises no warning")
    func createdPrivate() throws {
        let parent = TemporaryDirectory()
        let path = parent.path + "/member/wal"
        try PosixFileSystem().createDirectory(path)
        for directory in [parent.path + "/member", path] {
            var info = stat()
            #expect(stat(directory, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700)
            #expect(DirectoryPermission.problem(directory) == nil)
        }
    }

    @Test("An existing directory others can read is reported in etcd's words")
    func looseDirectory() throws {
        let parent = TemporaryDirectory()
        let path = parent.path + "/loose.etcd"
        #expect(mkdir(path, 0o700) == 0)
        #expect(chmod(path, 0o755) == 0)
        #expect(DirectoryPermission.problem(path) == """
            check file permission: directory "\(path)" exist, but the permission is "drwxr-xr-x". \
            The recommended permission is "-rwx------" to prevent possible unprivileged access to the data.
            """)
        #expect(DirectoryPermission.problem(parent.path + "/missing") == nil)
    }
}
