/* Disk faults for a real member, loaded with LD_PRELOAD (Tests/DiskFaults/run.sh builds it):
 *
 *   FAULT_SYNC_FAILS_AFTER=PATH  once the file PATH exists, every fsync and fdatasync fails with
 *                                EIO, as a dying disk's do;
 *   FAULT_SYNC_ONLY=TEXT         with it, only syncs of files whose path contains TEXT fail;
 *   FAULT_SHORT_WRITES=1         every write and pwrite of more than one byte writes only the
 *                                first half of what it was given, as the kernel may (callers
 *                                must loop);
 *   FAULT_LOG=PATH               one line per fault injected, for the test to count;
 *   FAULT_UNDO_JOURNAL=PATH      before each pwrite to a regular file, the bytes it overwrites
 *                                (and the file's size) are appended to PATH; each successful
 *                                fsync or fdatasync of a file is noted there too. powercut.py
 *                                then undoes, file by file, every write not followed by a sync
 *                                of that file: what a power cut loses.
 *
 * Everything else passes through to the C library unchanged. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <stdint.h>
#include <unistd.h>

static void journal(char kind, int fd, off_t offset, size_t count);

static void note(const char *what, int fd) {
    const char *path = getenv("FAULT_LOG");
    if (!path) return;
    int log = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log < 0) return;
    char line[64];
    int length = snprintf(line, sizeof line, "%s fd=%d\n", what, fd);
    if (length > 0) (void)!write(log, line, (size_t)length);
    close(log);
}

static int syncs_fail(int fd) {
    const char *trigger = getenv("FAULT_SYNC_FAILS_AFTER");
    if (!trigger || access(trigger, F_OK) != 0) return 0;
    const char *only = getenv("FAULT_SYNC_ONLY");
    if (!only) return 1;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, sizeof path - 1);
    if (length < 0) return 0;
    path[length] = 0;
    return strstr(path, only) != NULL;
}

static size_t shortened(size_t count) {
    const char *on = getenv("FAULT_SHORT_WRITES");
    return on && on[0] == '1' && count > 1 ? count / 2 : count;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (syncs_fail(fd)) { note("fsync failed", fd); errno = EIO; return -1; }
    int result = real(fd);
    if (result == 0) journal('S', fd, 0, 0);
    return result;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (syncs_fail(fd)) { note("fdatasync failed", fd); errno = EIO; return -1; }
    int result = real(fd);
    if (result == 0) journal('S', fd, 0, 0);
    return result;
}

/* The undo journal's records: 'W', u32 path length, path, u64 offset, u64 size before, u32
 * length of the old bytes, the old bytes; or 'S', u32 path length, path (a sync). One write()
 * per record, on a descriptor opened with O_APPEND, so that threads' records do not mix. */
#include <pthread.h>
#include <sys/stat.h>
static pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;

static int path_of(int fd, char *path, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, size - 1);
    if (length <= 0) return -1;
    path[length] = 0;
    return (int)length;
}

static void journal(char kind, int fd, off_t offset, size_t count) {
    const char *journal_path = getenv("FAULT_UNDO_JOURNAL");
    if (!journal_path) return;
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) return;
    char path[4096];
    int length = path_of(fd, path, sizeof path);
    if (length < 0 || strstr(path, journal_path)) return;
    static ssize_t (*real_pread)(int, void *, size_t, off_t);
    if (!real_pread) real_pread = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
    size_t old_length = 0;
    unsigned char *record = malloc(1 + 4 + (size_t)length + 8 + 8 + 4 + count);
    if (!record) return;
    size_t at = 0;
    record[at++] = (unsigned char)kind;
    uint32_t path_length = (uint32_t)length;
    memcpy(record + at, &path_length, 4); at += 4;
    memcpy(record + at, path, (size_t)length); at += (size_t)length;
    if (kind == 'W') {
        uint64_t where = (uint64_t)offset, size = (uint64_t)info.st_size;
        memcpy(record + at, &where, 8); at += 8;
        memcpy(record + at, &size, 8); at += 8;
        if ((off_t)offset < info.st_size) {
            ssize_t got = real_pread(fd, record + at + 4, count, offset);
            if (got < 0) {
                /* Opened for writing only (the WAL is): read through a descriptor of our own. */
                int reader = open(path, O_RDONLY | O_CLOEXEC);
                if (reader >= 0) { got = real_pread(reader, record + at + 4, count, offset); close(reader); }
            }
            old_length = got > 0 ? (size_t)got : 0;
        }
        uint32_t stored = (uint32_t)old_length;
        memcpy(record + at, &stored, 4); at += 4 + old_length;
    }
    pthread_mutex_lock(&journal_lock);
    int out = open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out >= 0) { (void)!write(out, record, at); close(out); }
    pthread_mutex_unlock(&journal_lock);
    free(record);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    journal('W', fd, offset, count);
    size_t asked = shortened(count);
    if (asked != count) note("short pwrite", fd);
    return real(fd, buffer, asked, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    return pwrite(fd, buffer, count, offset);
}
