/*
 * state.c - the snapshot primitives of state.h (a little-endian binary stream with a
 * running checksum, and a bounds-checked reader) and the snapshot file around them
 * (SPEC §10): the state directory and its lock, the framing (magic, format version, the
 * engine clock, one section per rule, checksum), the atomic save and the load.
 *
 * Every fixed-size field is written as its little-endian bytes; doubles as their IEEE-754
 * bits, so NaN and -0 come back exactly. A byte string is a u32 length and the bytes; a C
 * string the same, with the length 0xFFFFFFFF standing for NULL.
 *
 * A section's length comes before its bytes so that a loader can skip the section of a
 * rule it no longer has. Detectors serialize straight into the file: the framing first
 * runs save() on a counting writer (no output) to learn the length, then again for real,
 * so saving never holds a second copy of the state in memory. Loading maps the file, checks
 * the magic, the version and the checksum, then walks the framing once to validate it all,
 * and only then hands sections to the detectors: a damaged file loads nothing. The pages of
 * the mapping are handed back to the kernel as they are read (the checksum pass, then each
 * section's reader), so a large snapshot and the state it becomes are not both resident.
 *
 * Ignores: byte order of the host for anything but the encoding (the file is always
 * little-endian), sections of other rules (dropped, counted), and file systems without
 * flock (the lock is then advisory only where flock works).
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detect.h"
#include "hash.h"

#define STR_NULL UINT32_MAX
static const char MAGIC[8] = {'T', 'H', 'S', 'T', 'A', 'T', 'E', '\0'};

/* ---- the writer ---------------------------------------------------------------------- */

void th__sw_init(struct th_state_writer *w, FILE *fp)
{
    w->fp = fp;
    w->hash = th__hash_init(0);
    w->bytes = 0;
    w->failed = false;
}

static void sw_raw(struct th_state_writer *w, const void *p, size_t len)
{
    if (w->failed || len == 0)
        return;
    w->bytes += len;
    if (!w->fp)
        return;
    w->hash = th__hash_add(w->hash, p, len);
    if (fwrite_unlocked(p, 1, len, w->fp) != len)
        w->failed = true;
}

void th__sw_u8(struct th_state_writer *w, uint8_t v)
{
    sw_raw(w, &v, 1);
}

void th__sw_u32(struct th_state_writer *w, uint32_t v)
{
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    sw_raw(w, b, sizeof b);
}

void th__sw_u64(struct th_state_writer *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    sw_raw(w, b, sizeof b);
}

void th__sw_i64(struct th_state_writer *w, int64_t v)
{
    th__sw_u64(w, (uint64_t)v);
}

void th__sw_f64(struct th_state_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    th__sw_u64(w, bits);
}

void th__sw_bool(struct th_state_writer *w, bool v)
{
    th__sw_u8(w, v ? 1 : 0);
}

void th__sw_bytes(struct th_state_writer *w, const void *p, size_t len)
{
    if (len >= STR_NULL) {
        w->failed = true; /* no field comes near 4 GiB: refuse rather than truncate */
        return;
    }
    th__sw_u32(w, (uint32_t)len);
    sw_raw(w, p, len);
}

void th__sw_str(struct th_state_writer *w, const char *s)
{
    if (!s)
        th__sw_u32(w, STR_NULL);
    else
        th__sw_bytes(w, s, strlen(s));
}

/* ---- the reader ---------------------------------------------------------------------- */

void th__sr_init(struct th_state_reader *r, const void *data, size_t len)
{
    r->p = data ? data : (const void *)"";
    r->end = data ? r->p + len : r->p;
    r->bad = false;
    r->release_at = NULL;
    r->released = NULL;
}

#define RELEASE_STEP (8u << 20) /* hand pages back every 8 MiB read */

static uintptr_t page_down(uintptr_t a)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    return a & ~(page - 1);
}

/* Hands the mapped pages in [released, p) back to the kernel (see state.h). */
static void sr_release(struct th_state_reader *r)
{
    uintptr_t from = (uintptr_t)r->released, to = page_down((uintptr_t)r->p);
    if (to > from) {
        madvise((void *)from, to - from, MADV_DONTNEED);
        r->released = (const unsigned char *)to;
    }
    r->release_at = (size_t)(r->end - r->p) > RELEASE_STEP ? r->p + RELEASE_STEP : r->end;
}

/* The next n bytes, or NULL (and bad) when fewer are left. */
static const unsigned char *sr_take(struct th_state_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    if (r->release_at && r->p >= r->release_at)
        sr_release(r);
    return p;
}

uint8_t th__sr_u8(struct th_state_reader *r)
{
    const unsigned char *b = sr_take(r, 1);
    return b ? b[0] : 0;
}

uint32_t th__sr_u32(struct th_state_reader *r)
{
    const unsigned char *b = sr_take(r, 4);
    uint32_t v = 0;
    for (int i = 0; b && i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

uint64_t th__sr_u64(struct th_state_reader *r)
{
    const unsigned char *b = sr_take(r, 8);
    uint64_t v = 0;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

int64_t th__sr_i64(struct th_state_reader *r)
{
    return (int64_t)th__sr_u64(r);
}

double th__sr_f64(struct th_state_reader *r)
{
    uint64_t bits = th__sr_u64(r);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

bool th__sr_bool(struct th_state_reader *r)
{
    uint8_t v = th__sr_u8(r);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

const char *th__sr_bytes(struct th_state_reader *r, size_t *len)
{
    *len = 0;
    uint32_t n = th__sr_u32(r);
    if (n == STR_NULL)
        r->bad = true;
    const unsigned char *p = r->bad ? NULL : sr_take(r, n);
    if (!p)
        return NULL;
    *len = n;
    return (const char *)p;
}

char *th__sr_str(struct th_state_reader *r)
{
    uint32_t n = th__sr_u32(r);
    if (r->bad || n == STR_NULL)
        return NULL;
    const unsigned char *p = sr_take(r, n);
    if (!p)
        return NULL;
    if (memchr(p, '\0', n)) { /* written from a C string: a NUL inside is damage */
        r->bad = true;
        return NULL;
    }
    char *s = th__strndup((const char *)p, n);
    if (!s)
        r->bad = true; /* out of memory: the caller gives up on the section all the same */
    return s;
}

uint64_t th__sr_count(struct th_state_reader *r, uint64_t max, size_t min_bytes)
{
    uint64_t n = th__sr_u64(r);
    if (r->bad)
        return 0;
    size_t left = (size_t)(r->end - r->p);
    if (n > max || (min_bytes && n > left / min_bytes)) {
        r->bad = true;
        return 0;
    }
    return n;
}

/* ---- the state directory ------------------------------------------------------------- */

/* Joins dir and name into out; false when it does not fit. */
static bool join(char *out, size_t size, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    bool slash = n && dir[n - 1] == '/';
    int w = snprintf(out, size, "%s%s%s", dir, slash ? "" : "/", name);
    return w > 0 && (size_t)w < size;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int th__state_open_dir(const char *dir, int *lock_fd, struct th_err *err)
{
    *lock_fd = -1;
    if (make_dirs(dir) != 0)
        return th__err(err, TH_EIO, dir, "cannot create the state directory: %s",
                       strerror(errno));
    char path[PATH_MAX];
    if (!join(path, sizeof path, dir, "trailhound.lock"))
        return th__err(err, TH_EIO, dir, "state directory path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return th__err(err, TH_EIO, path, "cannot open the state lock: %s", strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return th__err(err, TH_ESTATE, dir,
                           "the state directory is in use by another trailhound process");
        return th__err(err, TH_EIO, path, "cannot lock the state directory: %s", strerror(e));
    }
    *lock_fd = fd;
    return 0;
}

/* ---- saving -------------------------------------------------------------------------- */

int th__state_save(const char *dir, const struct th_state_clock *clock,
                   const struct th_detector *det, size_t ndet, uint64_t *bytes,
                   struct th_err *err)
{
    *bytes = 0;
    char path[PATH_MAX], tmp[PATH_MAX];
    if (!join(path, sizeof path, dir, TH_STATE_FILE) ||
        !join(tmp, sizeof tmp, dir, TH_STATE_FILE ".tmp"))
        return th__err(err, TH_EIO, dir, "state directory path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return th__err(err, TH_EIO, tmp, "cannot save the state: %s", strerror(errno));
    FILE *fp = fchmod(fd, 0600) == 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return th__err(err, TH_EIO, tmp, "cannot save the state: %s", strerror(e));
    }
    char buf[1 << 16];
    setvbuf(fp, buf, _IOFBF, sizeof buf);

    struct th_state_writer w;
    th__sw_init(&w, fp);
    sw_raw(&w, MAGIC, sizeof MAGIC);
    th__sw_u32(&w, TH_STATE_FORMAT_VERSION);
    th__sw_bool(&w, clock->have_time);
    th__sw_i64(&w, clock->newest);
    th__sw_i64(&w, clock->watermark);
    uint32_t nsec = 0;
    for (size_t i = 0; i < ndet; i++)
        nsec += det[i].ops->save != NULL;
    th__sw_u32(&w, nsec);
    const char *why = NULL;
    for (size_t i = 0; i < ndet && !w.failed && !why; i++) {
        const struct th_detector *d = &det[i];
        if (!d->ops->save)
            continue;
        struct th_state_writer count;
        th__sw_init(&count, NULL);
        d->ops->save(d, &count);
        th__sw_str(&w, d->rule->id);
        th__sw_u64(&w, d->rule->fingerprint);
        th__sw_u8(&w, (uint8_t)d->rule->method);
        th__sw_u64(&w, count.bytes);
        uint64_t before = w.bytes;
        d->ops->save(d, &w);
        if (count.failed || (!w.failed && w.bytes - before != count.bytes))
            why = "a detector wrote an inconsistent section"; /* a bug, never silent */
    }
    uint64_t sum = th__hash_mix(w.hash);
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(sum >> (8 * i));
    if (!w.failed && fwrite(b, 1, sizeof b, fp) != sizeof b)
        w.failed = true;
    int e = 0;
    errno = 0;
    if (w.failed || fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        e = errno ? errno : EIO;
    if (fclose(fp) != 0 && !e)
        e = errno;
    if (!e && !why && rename(tmp, path) != 0)
        e = errno;
    if (e || why) {
        unlink(tmp);
        return th__err(err, TH_EIO, path, "cannot save the state: %s",
                       why ? why : strerror(e));
    }
    /* The rename is durable once the directory is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    *bytes = w.bytes + sizeof b;
    return 0;
}

/* ---- loading ------------------------------------------------------------------------- */

struct section {
    const char *id; /* borrowed from the mapping, id_len bytes */
    size_t id_len;
    uint64_t fingerprint;
    uint8_t method;
    const unsigned char *data;
    size_t len;
};

static int cmp_sections(const void *a, const void *b)
{
    const struct section *x = a, *y = b;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int c = memcmp(x->id, y->id, n);
    return c ? c : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

static void logf_(void (*log)(void *, const char *), void *ctx, const char *fmt, ...)
    TH_PRINTF(3, 4);
static void logf_(void (*log)(void *, const char *), void *ctx, const char *fmt, ...)
{
    if (!log)
        return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log(ctx, msg);
}

/* Hands one validated section to its detector; a refusal resets the detector. */
static int load_section(struct th_detector *d, const struct section *s, bool mapped,
                        void (*log)(void *, const char *), void *log_ctx, struct th_err *err)
{
    const struct th_rule *rule = d->rule;
    if (s->fingerprint != rule->fingerprint || s->method != (uint8_t)rule->method) {
        logf_(log, log_ctx, "state: rule %s changed since the snapshot was saved; its state "
              "was dropped", rule->id);
        return 0;
    }
    if (!d->ops->load) {
        logf_(log, log_ctx, "state: rule %s: its detector cannot load state; its state was "
              "dropped", rule->id);
        return 0;
    }
    struct th_state_reader r;
    th__sr_init(&r, s->data, s->len);
    if (mapped) {
        r.released = (const unsigned char *)page_down((uintptr_t)s->data);
        r.release_at = s->data;
    }
    struct th_err lerr = {{0}, {0}};
    int rc = d->ops->load(d, &r, &lerr);
    if (rc == 0 && (r.bad || r.p != r.end)) {
        rc = TH_ESTATE;
        th__err(&lerr, TH_ESTATE, NULL, "%s", r.bad ? "malformed section" :
                "section longer than its contents");
    }
    if (rc == 0)
        return 0;
    logf_(log, log_ctx, "state: rule %s: %s; the rule starts with empty state", rule->id,
          lerr.msg[0] ? lerr.msg : th_strerror(rc));
    d->ops->fini(d);
    return d->ops->init(d, err);
}

/* th__hash64(data, len, 0), handing a mapping's pages back as it goes. */
static uint64_t checksum(const unsigned char *data, size_t len, bool mapped)
{
    uint64_t h = th__hash_init(0);
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < RELEASE_STEP ? len - done : RELEASE_STEP;
        h = th__hash_add(h, data + done, n);
        done += n;
        uintptr_t from = page_down((uintptr_t)(data + done - n));
        uintptr_t to = page_down((uintptr_t)(data + done));
        if (mapped && to > from)
            madvise((void *)from, to - from, MADV_DONTNEED);
    }
    return th__hash_mix(h);
}

/* Validates the framing of the mapped file and fills *secs (owned). Returns 0 or a
 * TH_ESTATE with err filled. */
static int parse_file(const char *path, const unsigned char *data, size_t size, bool mapped,
                      struct th_state_clock *clock, struct section **secs, size_t *nsecs,
                      struct th_err *err)
{
    *secs = NULL;
    *nsecs = 0;
    const char *hint = "; start over with --reset-state";
    if (size < sizeof MAGIC || memcmp(data, MAGIC, sizeof MAGIC) != 0) {
        if (size < sizeof MAGIC && memcmp(data, MAGIC, size) == 0)
            return th__err(err, TH_ESTATE, path, "truncated state file (%zu bytes)%s", size,
                           hint);
        return th__err(err, TH_ESTATE, path, "not a trailhound state file (bad magic)%s",
                       hint);
    }
    struct th_state_reader r;
    th__sr_init(&r, data + sizeof MAGIC, size - sizeof MAGIC);
    uint32_t version = th__sr_u32(&r);
    if (r.bad)
        return th__err(err, TH_ESTATE, path, "truncated state file (%zu bytes)%s", size, hint);
    if (version != TH_STATE_FORMAT_VERSION)
        return th__err(err, TH_ESTATE, path,
                       "state format version %u, this build reads version %d%s", version,
                       TH_STATE_FORMAT_VERSION, hint);
    if (size < sizeof MAGIC + 4 + 8)
        return th__err(err, TH_ESTATE, path, "truncated state file (%zu bytes)%s", size, hint);
    uint64_t stored = 0;
    for (int i = 0; i < 8; i++)
        stored |= (uint64_t)data[size - 8 + i] << (8 * i);
    if (checksum(data, size - 8, mapped) != stored)
        return th__err(err, TH_ESTATE, path,
                       "checksum mismatch: the state file is corrupt or truncated%s", hint);

    th__sr_init(&r, data + sizeof MAGIC + 4, size - sizeof MAGIC - 4 - 8);
    clock->have_time = th__sr_bool(&r);
    clock->newest = th__sr_i64(&r);
    clock->watermark = th__sr_i64(&r);
    uint32_t n = th__sr_u32(&r);
    /* A section is at least a 4-byte id length, fingerprint, method and length. */
    if (!r.bad && n > (size_t)(r.end - r.p) / 21)
        r.bad = true;
    struct section *s = r.bad || n == 0 ? NULL : calloc(n, sizeof *s);
    if (!r.bad && n && !s)
        return th__err(err, TH_ENOMEM, path, "out of memory loading the state");
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        s[i].id = th__sr_bytes(&r, &s[i].id_len);
        s[i].fingerprint = th__sr_u64(&r);
        s[i].method = th__sr_u8(&r);
        uint64_t len = th__sr_u64(&r);
        if (r.bad || s[i].id_len == 0 || len > (uint64_t)(r.end - r.p)) {
            r.bad = true;
            break;
        }
        s[i].len = (size_t)len;
        s[i].data = sr_take(&r, s[i].len);
    }
    if (!r.bad && r.p != r.end)
        r.bad = true;
    if (!r.bad && n > 1) {
        /* Sorted copies find a rule id given twice. */
        struct section *sorted = malloc(n * sizeof *sorted);
        if (!sorted) {
            free(s);
            return th__err(err, TH_ENOMEM, path, "out of memory loading the state");
        }
        memcpy(sorted, s, n * sizeof *s);
        qsort(sorted, n, sizeof *sorted, cmp_sections);
        for (uint32_t i = 1; i < n && !r.bad; i++)
            r.bad = cmp_sections(&sorted[i - 1], &sorted[i]) == 0;
        free(sorted);
    }
    if (r.bad) {
        free(s);
        return th__err(err, TH_ESTATE, path, "malformed state file (bad section framing)%s",
                       hint);
    }
    *secs = s;
    *nsecs = n;
    return 0;
}

int th__state_load(const char *dir, struct th_state_clock *clock, struct th_detector *det,
                   size_t ndet, void (*log)(void *ctx, const char *msg), void *log_ctx,
                   uint64_t *bytes, struct th_err *err)
{
    *bytes = 0;
    char path[PATH_MAX];
    if (!join(path, sizeof path, dir, TH_STATE_FILE))
        return th__err(err, TH_EIO, dir, "state directory path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* the first run: an empty start */
        return th__err(err, TH_EIO, path, "cannot read the state: %s", strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return th__err(err, TH_EIO, path, "cannot read the state: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return th__err(err, TH_ESTATE, path, "cannot read the state: not a regular file");
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *data = (const unsigned char *)"";
    void *map = NULL;
    if (size) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return th__err(err, TH_EIO, path, "cannot read the state: %s", strerror(e));
        }
        madvise(map, size, MADV_SEQUENTIAL);
        data = map;
    }
    close(fd);

    struct th_state_clock c = {false, 0, 0};
    struct section *secs;
    size_t nsecs;
    int rc = parse_file(path, data, size, map != NULL, &c, &secs, &nsecs, err);
    size_t dropped = 0;
    for (size_t i = 0; rc == 0 && i < nsecs; i++) {
        struct th_detector *d = NULL;
        for (size_t k = 0; k < ndet && !d; k++)
            if (strlen(det[k].rule->id) == secs[i].id_len &&
                memcmp(det[k].rule->id, secs[i].id, secs[i].id_len) == 0)
                d = &det[k];
        if (!d)
            dropped++;
        else
            rc = load_section(d, &secs[i], map != NULL, log, log_ctx, err);
    }
    free(secs);
    if (map)
        munmap(map, size);
    if (rc < 0)
        return rc;
    if (dropped)
        logf_(log, log_ctx, "state: %zu rule%s in the snapshot %s no longer loaded; %s state "
              "was dropped", dropped, dropped == 1 ? "" : "s", dropped == 1 ? "is" : "are",
              dropped == 1 ? "its" : "their");
    *clock = c;
    *bytes = size;
    return 0;
}
