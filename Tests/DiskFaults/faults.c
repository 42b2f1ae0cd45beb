/* Disk faults for a real member, loaded with LD_PRELOAD (Tests/DiskFaults/run.sh builds it):
 *
 *   FAULT_SYNC_FAILS_AFTER=PATH  once the file PATH exists, every fsync and fdatasync fails with
 *                                EIO, as a dying disk's do;
 *   FAULT_SYNC_ONLY=TEXT         with it, only syncs of files whose path contains TEXT fail;
 *   FAULT_SHORT_WRITES=1         every write and pwrite of more than one byte writes only the
 *                                first half of what it was given, as the kernel may (callers
 *                                must loop);
 *   FAULT_LOG=PATH               one line per fault injected, for the test to count.
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
#include <unistd.h>

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
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (syncs_fail(fd)) { note("fdatasync failed", fd); errno = EIO; return -1; }
    return real(fd);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    size_t asked = shortened(count);
    if (asked != count) note("short pwrite", fd);
    return real(fd, buffer, asked, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    return pwrite(fd, buffer, count, offset);
}
