/* Disk faults for a real member, loaded with LD_PRELOAD (Tests/DiskFaults/run.sh builds it):
 *
 *   FAULT_SYNC_FAILS_AFTER=PATH  once the file PATH exists, every fsync and fdatasync fails with
 *                                EIO, as a dying disk's do;
 *   FAULT_SYNC_ONLY=TEXT         with it, only syncs of files whose path contains TEXT fail;
 *   FAULT_SHORT_WRITES=1         every write and pwrite of more than one byte writes only the
 *                                first half of what it was given, as the kernel may (callers
 *                                must loop);
 *   FAULT_KILL_AT_WRITE=N        the Nth pwrite to a file whose path contains FAULT_KILL_ONLY
 *                                (counted once FAULT_KILL_ARMED_BY names a file that exists, or
 *                                from the start without it) kills the process just before it is
 *                                made: a crash at a chosen point inside a commit, a compaction
 *                                or a defragmentation;
 *   FAULT_KILL_COUNTS_WRITE=1    sequential write()s count too (FileWriter's copies, as a
 *                                restore copies the store's file);
 *   FAULT_LOG=PATH               one line per fault injected, for the test to count;
 *   FAULT_UNDO_JOURNAL=PATH      before each pwrite to a regular file, the bytes it overwrites
 *                                (and the file's size) are appended to PATH; each successful
 *                                fsync or fdatasync of a file is noted there too. powercut.py
 *                                then undoes, file by file, every write not followed by a sync
 *                                of that file: what a power cut loses;
 *   FAULT_DIR_OPS_UNDER=DIR      with the journal, files and directories created ('C'), files
 *                                renamed ('R') and removed ('U', a hard link kept) and
 *                                directories removed ('D') under DIR are noted too, and syncs
 *                                of directories: a creation, a
 *                                rename or a removal is durable only once its directory is synced, and
 *                                powercut.py undoes those that were not (a renamed-over file
 *                                comes back with its old bytes); sequential write()s to files
 *                                there are journaled as pwrites are.
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
#include <stdarg.h>
#include <signal.h>

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

static int real_open(const char *path, int flags, mode_t mode);

/* One write() per record, on a descriptor opened with O_APPEND, so threads' records do not mix. */
static void append_record(const unsigned char *record, size_t length) {
    const char *journal_path = getenv("FAULT_UNDO_JOURNAL");
    pthread_mutex_lock(&journal_lock);
    int out = real_open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out >= 0) { (void)!write(out, record, length); close(out); }
    pthread_mutex_unlock(&journal_lock);
}

static int real_open(const char *path, int flags, mode_t mode) {
    static int (*real)(const char *, int, ...);
    if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    return real(path, flags, mode);
}

static void journal(char kind, int fd, off_t offset, size_t count) {
    const char *journal_path = getenv("FAULT_UNDO_JOURNAL");
    if (!journal_path) return;
    struct stat info;
    if (fstat(fd, &info) != 0) return;
    /* A directory's sync matters only for the creations and renames in it. */
    if (!S_ISREG(info.st_mode) && !(kind == 'S' && S_ISDIR(info.st_mode) && getenv("FAULT_DIR_OPS_UNDER"))) return;
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
                int reader = real_open(path, O_RDONLY | O_CLOEXEC, 0);
                if (reader >= 0) { got = real_pread(reader, record + at + 4, count, offset); close(reader); }
            }
            old_length = got > 0 ? (size_t)got : 0;
        }
        uint32_t stored = (uint32_t)old_length;
        memcpy(record + at, &stored, 4); at += 4 + old_length;
    }
    append_record(record, at);
    free(record);
}

static void kill_if_chosen(int fd) {
    const char *at = getenv("FAULT_KILL_AT_WRITE");
    if (!at) return;
    const char *armed = getenv("FAULT_KILL_ARMED_BY");
    if (armed && access(armed, F_OK) != 0) return;
    const char *only = getenv("FAULT_KILL_ONLY");
    if (only) {
        char path[4096];
        if (path_of(fd, path, sizeof path) < 0 || !strstr(path, only)) return;
    }
    static long counted = 0;
    if (__atomic_add_fetch(&counted, 1, __ATOMIC_SEQ_CST) == atol(at)) {
        note("killed before a write", fd);
        raise(SIGKILL);
    }
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    kill_if_chosen(fd);
    journal('W', fd, offset, count);
    size_t asked = shortened(count);
    if (asked != count) note("short pwrite", fd);
    return real(fd, buffer, asked, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off_t offset) {
    return pwrite(fd, buffer, count, offset);
}

/* Creations and renames under FAULT_DIR_OPS_UNDER, as absolute paths. */
static int absolute(int dirfd, const char *path, char *out, size_t size) {
    if (path[0] == '/') return snprintf(out, size, "%s", path) < (int)size ? 0 : -1;
    char base[4096];
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base)) return -1;
    } else if (path_of(dirfd, base, sizeof base) < 0) {
        return -1;
    }
    return snprintf(out, size, "%s/%s", base, path) < (int)size ? 0 : -1;
}

static int watched(const char *path) {
    const char *under = getenv("FAULT_DIR_OPS_UNDER");
    const char *journal_path = getenv("FAULT_UNDO_JOURNAL");
    return under && journal_path && strncmp(path, under, strlen(under)) == 0 && !strstr(path, journal_path);
}

/* A record of one path: kind, u32 length, path, then `extra_size` bytes of `extra`. */
static void append_path_record(char kind, const char *path, const void *extra, size_t extra_size) {
    uint32_t length = (uint32_t)strlen(path);
    unsigned char *record = malloc(5 + length + extra_size);
    if (!record) return;
    record[0] = (unsigned char)kind;
    memcpy(record + 1, &length, 4);
    memcpy(record + 5, path, length);
    if (extra_size) memcpy(record + 5 + length, extra, extra_size);
    append_record(record, 5 + length + extra_size);
    free(record);
}

/* 'C', u32 length, path: a file created. */
static void journal_created(const char *path) { append_path_record('C', path, NULL, 0); }

/* 'R', u32 length, old path, u32 length, new path, u32 length of the bytes the new path held
 * (0xFFFFFFFF: it did not exist), those bytes. Made before the rename (the bytes it replaces),
 * written once it succeeded. */
static unsigned char *rename_record(const char *old, const char *new, size_t *size) {
    uint32_t old_length = (uint32_t)strlen(old), new_length = (uint32_t)strlen(new), saved = 0xFFFFFFFFu;
    unsigned char *content = NULL;
    struct stat info;
    if (stat(new, &info) == 0 && S_ISREG(info.st_mode) && info.st_size < (64 << 20)) {
        content = malloc((size_t)info.st_size + 1);
        int reader = real_open(new, O_RDONLY | O_CLOEXEC, 0);
        if (content && reader >= 0) {
            ssize_t got = read(reader, content, (size_t)info.st_size);
            saved = got > 0 ? (uint32_t)got : 0;
        }
        if (reader >= 0) close(reader);
    }
    *size = 1 + 4 + old_length + 4 + new_length + 4 + (saved == 0xFFFFFFFFu ? 0 : saved);
    unsigned char *record = malloc(*size);
    if (record) {
        size_t at = 0;
        record[at++] = 'R';
        memcpy(record + at, &old_length, 4); at += 4;
        memcpy(record + at, old, old_length); at += old_length;
        memcpy(record + at, &new_length, 4); at += 4;
        memcpy(record + at, new, new_length); at += new_length;
        memcpy(record + at, &saved, 4); at += 4;
        if (saved != 0xFFFFFFFFu) memcpy(record + at, content, saved);
    }
    free(content);
    return record;
}

static int open_noting(int dirfd, const char *path, int flags, mode_t mode,
                       int (*real)(int, const char *, int, ...)) {
    char full[4096];
    int creates = (flags & O_CREAT) && absolute(dirfd, path, full, sizeof full) == 0 && watched(full)
        && faccessat(AT_FDCWD, full, F_OK, 0) != 0;
    int fd = real(dirfd, path, flags, mode);
    if (fd >= 0 && creates) journal_created(full);
    return fd;
}

static int (*next_openat(const char *name))(int, const char *, int, ...) {
    return (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, name);
}

int openat(int dirfd, const char *path, int flags, ...) {
    static int (*real)(int, const char *, int, ...);
    if (!real) real = next_openat("openat");
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }
    return open_noting(dirfd, path, flags, mode, real);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    static int (*real)(int, const char *, int, ...);
    if (!real) real = next_openat("openat64");
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }
    return open_noting(dirfd, path, flags, mode, real);
}

/* open and open64 as openat from the working directory. */
static int open_via(const char *name, const char *path, int flags, mode_t mode) {
    static int (*plain)(const char *, int, ...), (*large)(const char *, int, ...);
    int (**slot)(const char *, int, ...) = strcmp(name, "open") == 0 ? &plain : &large;
    if (!*slot) *slot = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
    char full[4096];
    int creates = (flags & O_CREAT) && absolute(AT_FDCWD, path, full, sizeof full) == 0 && watched(full)
        && access(full, F_OK) != 0;
    int fd = (*slot)(path, flags, mode);
    if (fd >= 0 && creates) journal_created(full);
    return fd;
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }
    return open_via("open", path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) { va_list list; va_start(list, flags); mode = va_arg(list, mode_t); va_end(list); }
    return open_via("open64", path, flags, mode);
}

static int rename_noting(int from_dir, const char *old, int to_dir, const char *new, int (*real)(int, const char *, int, const char *)) {
    char old_full[4096], new_full[4096];
    int noted = absolute(from_dir, old, old_full, sizeof old_full) == 0 && absolute(to_dir, new, new_full, sizeof new_full) == 0
        && watched(new_full);
    size_t size = 0;
    unsigned char *record = noted ? rename_record(old_full, new_full, &size) : NULL;
    int result = real(from_dir, old, to_dir, new);
    if (result == 0 && record) append_record(record, size);
    free(record);
    return result;
}

int rename(const char *old, const char *new) {
    static int (*real)(int, const char *, int, const char *);
    if (!real) real = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
    return rename_noting(AT_FDCWD, old, AT_FDCWD, new, real);
}

int renameat(int from_dir, const char *old, int to_dir, const char *new) {
    static int (*real)(int, const char *, int, const char *);
    if (!real) real = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
    return rename_noting(from_dir, old, to_dir, new, real);
}

/* A directory made under FAULT_DIR_OPS_UNDER is a creation ('C'), as a file's: a power cut
 * takes it, and all in it, unless its parent was synced after. */
static int mkdir_noting(int dirfd, const char *path, mode_t mode, int (*real)(int, const char *, mode_t)) {
    char full[4096];
    int noted = absolute(dirfd, path, full, sizeof full) == 0 && watched(full);
    int result = real(dirfd, path, mode);
    if (result == 0 && noted) journal_created(full);
    return result;
}

int mkdirat(int dirfd, const char *path, mode_t mode) {
    static int (*real)(int, const char *, mode_t);
    if (!real) real = (int (*)(int, const char *, mode_t))dlsym(RTLD_NEXT, "mkdirat");
    return mkdir_noting(dirfd, path, mode, real);
}

int mkdir(const char *path, mode_t mode) {
    static int (*real)(int, const char *, mode_t);
    if (!real) real = (int (*)(int, const char *, mode_t))dlsym(RTLD_NEXT, "mkdirat");
    return mkdir_noting(AT_FDCWD, path, mode, real);
}

/* 'D', u32 length, path, u32 mode, u32 owner, u32 group: an (empty) directory removed, so a
 * power cut before its parent's next sync can make it again, as it was. */
static void journal_removed_directory(const char *path, const struct stat *info) {
    uint32_t attributes[3] = {(uint32_t)(info->st_mode & 07777), (uint32_t)info->st_uid, (uint32_t)info->st_gid};
    append_path_record('D', path, attributes, sizeof attributes);
}

/* A file removed under FAULT_DIR_OPS_UNDER: 'U', u32 length, path, u32 length, the name of a
 * hard link to it kept beside the journal, so a power cut before its directory's next sync
 * can give the file back. A directory removed: 'D' (above). */
static int unlink_noting(int dirfd, const char *path, int flags, int (*real)(int, const char *, int)) {
    static long kept = 0;
    char full[4096], keep[4200];
    struct stat info;
    if (flags & AT_REMOVEDIR) {
        int noted = absolute(dirfd, path, full, sizeof full) == 0 && watched(full) && stat(full, &info) == 0 && S_ISDIR(info.st_mode);
        int result = real(dirfd, path, flags);
        if (result == 0 && noted) journal_removed_directory(full, &info);
        return result;
    }
    int noted = !(flags & AT_REMOVEDIR) && absolute(dirfd, path, full, sizeof full) == 0 && watched(full)
        && stat(full, &info) == 0 && S_ISREG(info.st_mode);
    if (noted) {
        snprintf(keep, sizeof keep, "%s.unlinked.%ld", getenv("FAULT_UNDO_JOURNAL"), __atomic_add_fetch(&kept, 1, __ATOMIC_SEQ_CST));
        noted = link(full, keep) == 0;
    }
    int result = real(dirfd, path, flags);
    if (noted) {
        if (result == 0) {
            uint32_t full_length = (uint32_t)strlen(full), keep_length = (uint32_t)strlen(keep);
            size_t size = 1 + 4 + full_length + 4 + keep_length;
            unsigned char *record = malloc(size);
            if (record) {
                record[0] = 'U';
                memcpy(record + 1, &full_length, 4);
                memcpy(record + 5, full, full_length);
                memcpy(record + 5 + full_length, &keep_length, 4);
                memcpy(record + 9 + full_length, keep, keep_length);
                append_record(record, size);
                free(record);
            }
        } else {
            int saved = errno;
            unlink(keep);
            errno = saved;
        }
    }
    return result;
}

int unlinkat(int dirfd, const char *path, int flags) {
    static int (*real)(int, const char *, int);
    if (!real) real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
    return unlink_noting(dirfd, path, flags, real);
}

int unlink(const char *path) {
    static int (*real)(int, const char *, int);
    if (!real) real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
    return unlink_noting(AT_FDCWD, path, 0, real);
}

int rmdir(const char *path) {
    static int (*real)(int, const char *, int);
    if (!real) real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
    return unlink_noting(AT_FDCWD, path, AT_REMOVEDIR, real);
}

/* Sequential writes (FileWriter's copies of a store) under FAULT_DIR_OPS_UNDER are journaled as
 * writes at the descriptor's offset, so a power cut can undo them too. Not shortened: short
 * writes are injected on pwrite, which the WAL and SQLite use. */
ssize_t write(int fd, const void *buffer, size_t count) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (count > 0 && getenv("FAULT_KILL_COUNTS_WRITE")) {
        struct stat target;
        if (fstat(fd, &target) == 0 && S_ISREG(target.st_mode)) kill_if_chosen(fd);  /* files only: not logs to a pipe, sockets */
    }
    if (count > 0 && getenv("FAULT_UNDO_JOURNAL") && getenv("FAULT_DIR_OPS_UNDER")) {
        struct stat info;
        char path[4096];
        if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && path_of(fd, path, sizeof path) > 0 && watched(path)) {
            int flags = fcntl(fd, F_GETFL);
            off_t offset = (flags >= 0 && (flags & O_APPEND)) ? info.st_size : lseek(fd, 0, SEEK_CUR);
            if (offset >= 0) journal('W', fd, offset, count);
        }
    }
    return real(fd, buffer, count);
}
