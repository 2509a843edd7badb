/*
 * pipeline.c - the two-thread read of pipeline.h: a producer (the reader, on its own
 * thread) and the caller's thread as consumer, joined by a ring of batches.
 *
 * Design. A batch holds items in input order: an event with its tape, an event with a
 * json-c tree (a reference taken), or a skipped event's time. Everything the reader reuses
 * or frees afterwards (the event's bytes, its tape's nodes and decoded strings, the file
 * name, the prefilter's mask) is copied into the batch's arena, and referred to by offset
 * so that the arena may grow. The producer publishes a batch when it is full (BATCH_ITEMS,
 * or BATCH_BYTES of arena) and at the end; the consumer takes them strictly in ring order,
 * copies the arena into a buffer of its own (local_copy) and reads each tape through a
 * view of that copy. Two condition variables, one per direction, under one mutex.
 * A stop (the output refusing more) is an atomic flag the producer's callbacks answer by
 * stopping the reader; the consumer then drops what is left without evaluating it, as a
 * single-threaded read would never have read it.
 *
 * State: per read, the ring (NBATCH batches), the producer's scratch mask and its current
 * file name, the consumer's copy; all freed at the end of the call.
 */
#include "pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tape.h"

#define NBATCH 4
/* Small batches: at about 3 KB of bytes and tape per event, a batch is under 1 MB (a
 * core's L2 cache here) and the ring a few MB. With 2048 items (24 MB in the ring) two
 * threads spent up to a third more CPU on the same work (README, Performance). */
#define BATCH_ITEMS 256
#define BATCH_BYTES ((size_t)1 << 20)

enum item_kind { IT_SKIP, IT_TAPE, IT_OBJ };

struct item {
    enum item_kind kind;
    bool checked; /* mask holds the prefilter's answer */
    bool raw;     /* the bytes at src are the event's whole line (th_read_event.raw) */
    int64_t time_ms;
    uint64_t line;
    size_t name;          /* arena offset of the file name */
    size_t src, src_len;  /* arena offset of the event's bytes (tape text, or raw) */
    size_t mask;          /* arena offset of the mask */
    json_object *obj;     /* IT_OBJ: a reference the item owns */
    size_t nodes, nnodes; /* IT_TAPE: arena offset and count of the tape's nodes */
    size_t dec, ndec;     /* IT_TAPE: arena offset and length of its decoded strings */
};

enum batch_state { B_FREE, B_READY, B_TAKEN };

struct batch {
    enum batch_state state;
    struct item items[BATCH_ITEMS];
    size_t n;
    char *arena;
    size_t used, cap;
    struct th_reader_stats st; /* the reader's counters when it was published */
    size_t last_name;          /* arena offset of the last name copied, or SIZE_MAX */
    const char *last_name_ptr;
};

struct pipe {
    struct th_reader *r;
    const struct th_pipe_ops *ops;
    const char *path;
    struct th_err *err;
    int rc;                       /* th__reader_read_path's answer */
    struct batch *b;              /* NBATCH of them */
    size_t fill;                  /* the producer's batch */
    pthread_mutex_t mu;
    pthread_cond_t ready, freed;  /* a batch published / a batch given back */
    bool done;                    /* the producer has published its last batch */
    atomic_int stop;              /* the consumer asks the producer to stop */
    bool oom;                     /* the producer ran out of memory for a batch */
    uint64_t *mask;               /* the producer's scratch (mask_words + 1) */
    char *local;                  /* the consumer's copy of the batch it evaluates */
    size_t local_cap;
};

/* Room for n more bytes in b's arena (8-aligned); the offset, or SIZE_MAX. */
static size_t arena_take(struct batch *b, size_t n)
{
    size_t at = (b->used + 7) & ~(size_t)7;
    if (at + n > b->cap) {
        size_t ncap = b->cap ? b->cap : BATCH_BYTES;
        while (ncap < at + n)
            ncap *= 2;
        char *np = realloc(b->arena, ncap);
        if (!np)
            return SIZE_MAX;
        b->arena = np;
        b->cap = ncap;
    }
    b->used = at + n;
    return at;
}

static size_t arena_copy(struct batch *b, const void *p, size_t n)
{
    size_t at = arena_take(b, n + 1);
    if (at != SIZE_MAX) {
        memcpy(b->arena + at, p, n);
        b->arena[at + n] = '\0';
    }
    return at;
}

/* Publishes the producer's batch and waits for the next one to be free. */
static void publish(struct pipe *pp)
{
    struct batch *b = &pp->b[pp->fill];
    b->st = *th__reader_stats(pp->r);
    pthread_mutex_lock(&pp->mu);
    b->state = B_READY;
    pthread_cond_signal(&pp->ready);
    pp->fill = (pp->fill + 1) % NBATCH;
    struct batch *next = &pp->b[pp->fill];
    while (next->state != B_FREE)
        pthread_cond_wait(&pp->freed, &pp->mu);
    pthread_mutex_unlock(&pp->mu);
    next->n = 0;
    next->used = 0;
    next->last_name = SIZE_MAX;
    next->last_name_ptr = NULL;
}

/* A new item in the producer's batch (publishing a full one first), its name copied. */
static struct item *new_item(struct pipe *pp, const char *file, size_t need)
{
    struct batch *b = &pp->b[pp->fill];
    if (b->n == BATCH_ITEMS || b->used + need > BATCH_BYTES) {
        publish(pp);
        b = &pp->b[pp->fill];
    }
    if (file != b->last_name_ptr || b->last_name == SIZE_MAX) { /* a source's name stays put */
        b->last_name = arena_copy(b, file, strlen(file));
        b->last_name_ptr = file;
        if (b->last_name == SIZE_MAX)
            return NULL;
    }
    struct item *it = &b->items[b->n++];
    memset(it, 0, sizeof *it);
    it->name = b->last_name;
    return it;
}

/* The producer's callbacks on the reader. Non-zero stops the reader. */
static int prod_event(void *ctx, const struct th_read_event *ev)
{
    struct pipe *pp = ctx;
    if (atomic_load_explicit(&pp->stop, memory_order_relaxed))
        return 1;
    const char *bytes = ev->tape ? ev->src : ev->raw;
    size_t nbytes = ev->tape ? ev->src_len : ev->raw_len;
    size_t mw = ev->checked ? pp->ops->mask_words : 0;
    size_t tbytes = ev->tape ? ev->tape->count * sizeof *ev->tape->n + ev->tape->dec_len : 0;
    struct item *it = new_item(pp, ev->file, nbytes + mw * 8 + tbytes + 64);
    struct batch *b = &pp->b[pp->fill];
    if (!it)
        goto oom;
    it->time_ms = ev->time_ms;
    it->line = ev->line;
    it->raw = ev->raw != NULL;
    if (bytes) {
        it->src = arena_copy(b, bytes, nbytes);
        it->src_len = nbytes;
        if (it->src == SIZE_MAX)
            goto oom;
    }
    if (mw) {
        it->mask = arena_take(b, mw * sizeof(uint64_t));
        if (it->mask == SIZE_MAX)
            goto oom;
        memcpy(b->arena + it->mask, pp->mask, mw * sizeof(uint64_t));
        it->checked = true;
    }
    if (ev->tape) {
        const struct th_tape *t = ev->tape;
        it->kind = IT_TAPE;
        it->nnodes = t->count;
        it->ndec = t->dec_len;
        it->nodes = arena_take(b, t->count * sizeof *t->n);
        it->dec = arena_take(b, t->dec_len + 1);
        if (it->nodes == SIZE_MAX || it->dec == SIZE_MAX)
            goto oom;
        memcpy(b->arena + it->nodes, t->n, t->count * sizeof *t->n);
        if (t->dec_len)
            memcpy(b->arena + it->dec, t->dec, t->dec_len);
    } else {
        it->kind = IT_OBJ;
        it->obj = json_object_get(ev->obj);
    }
    return 0;
oom:
    b->n -= it ? 1 : 0;
    pp->oom = true;
    return 1;
}

static int prod_skipped(void *ctx, int64_t time_ms, const char *file, uint64_t line)
{
    struct pipe *pp = ctx;
    if (atomic_load_explicit(&pp->stop, memory_order_relaxed))
        return 1;
    struct item *it = new_item(pp, file, 64);
    if (!it) {
        pp->oom = true;
        return 1;
    }
    it->kind = IT_SKIP;
    it->time_ms = time_ms;
    it->line = line;
    return 0;
}

static bool prod_wanted(void *ctx, const char *p, size_t n, const struct th_jscan *js)
{
    struct pipe *pp = ctx;
    return pp->ops->wanted(pp->ops->ctx, p, n, js, pp->mask);
}

static void *producer(void *arg)
{
    struct pipe *pp = arg;
    pp->rc = th__reader_read_path(pp->r, pp->path, pp->err);
    struct batch *b = &pp->b[pp->fill];
    b->st = *th__reader_stats(pp->r);
    pthread_mutex_lock(&pp->mu);
    b->state = B_READY; /* the last one, possibly empty */
    pp->done = true;
    pthread_cond_signal(&pp->ready);
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/*
 * The consumer's own copy of batch b's arena, or the arena itself when there is no room for
 * one. Copying the batch in one sequential pass, which the hardware prefetches, before the
 * evaluation reads it here and there, keeps those reads in this core's cache: reading the
 * reader's lines in place, each miss waited for the other core or for memory.
 */
static char *local_copy(struct pipe *pp, struct batch *b)
{
    if (b->used > pp->local_cap) {
        void *np = realloc(pp->local, b->cap);
        if (!np)
            return b->arena;
        pp->local = np;
        pp->local_cap = b->cap;
    }
    if (b->used)
        memcpy(pp->local, b->arena, b->used);
    return pp->local;
}

/* Evaluates (or, once stopped, drops) batch b's items on the caller's thread, reading
 * their bytes from arena (b's arena, or a copy of it). */
static int consume(struct pipe *pp, struct batch *b, char *arena, int stop)
{
    const struct th_pipe_ops *ops = pp->ops;
    if (ops->stats)
        ops->stats(ops->ctx, &b->st);
    for (size_t i = 0; i < b->n; i++) {
        struct item *it = &b->items[i];
        const char *file = arena + it->name;
        if (!stop) {
            if (it->kind == IT_SKIP) {
                stop = ops->skipped(ops->ctx, it->time_ms, file, it->line);
            } else {
                const char *bytes = it->src_len ? arena + it->src : NULL;
                struct th_read_event ev = {
                    .obj = it->obj,
                    .time_ms = it->time_ms,
                    .raw = it->raw ? bytes : NULL,
                    .raw_len = it->raw ? it->src_len : 0,
                    .file = file,
                    .line = it->line,
                    .checked = it->checked,
                };
                struct th_tape view; /* the tape, read in place: nothing of it is owned */
                if (it->kind == IT_TAPE) {
                    memset(&view, 0, sizeof view);
                    view.text = bytes;
                    view.n = (struct th_tnode *)(void *)(arena + it->nodes);
                    view.count = view.cap = it->nnodes;
                    view.dec = arena + it->dec;
                    view.dec_len = view.dec_cap = it->ndec;
                    view.ok = true;
                    ev.tape = &view;
                    ev.src = bytes;
                    ev.src_len = it->src_len;
                }
                const uint64_t *mask =
                    it->checked ? (const uint64_t *)(const void *)(arena + it->mask) : NULL;
                stop = ops->event(ops->ctx, &ev, mask);
                if (it->kind == IT_TAPE && view.tree) /* th__event_text parsed it */
                    json_object_put(view.tree);
            }
            if (stop)
                atomic_store(&pp->stop, 1);
        }
        if (it->obj)
            json_object_put(it->obj);
    }
    return stop;
}

int th__pipeline_read(struct th_reader *r, th_event_fn own_fn, void *own_ctx,
                      const struct th_reader_fast *own_fast, const struct th_pipe_ops *ops,
                      const char *path, struct th_err *err)
{
    struct pipe pp;
    memset(&pp, 0, sizeof pp);
    pp.r = r;
    pp.ops = ops;
    pp.path = path;
    pp.err = err;
    atomic_init(&pp.stop, 0);
    pp.b = calloc(NBATCH, sizeof *pp.b);
    pp.mask = calloc(ops->mask_words + 1, sizeof *pp.mask);
    if (!pp.b || !pp.mask) {
        free(pp.b);
        free(pp.mask);
        return TH_EUNSUPPORTED;
    }
    for (size_t i = 0; i < NBATCH; i++)
        pp.b[i].last_name = SIZE_MAX;
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.ready, NULL);
    pthread_cond_init(&pp.freed, NULL);

    th__reader_set_callback(r, prod_event, &pp);
    struct th_reader_fast f = {prod_wanted, prod_skipped, &pp, ops->tapes};
    if (own_fast && own_fast->wanted)
        th__reader_set_fast(r, &f);
    pthread_t th;
    int rc = 0;
    if (pthread_create(&th, NULL, producer, &pp) != 0) {
        rc = TH_EUNSUPPORTED;
    } else {
        int stop = 0;
        for (size_t take = 0;; take = (take + 1) % NBATCH) {
            struct batch *b = &pp.b[take];
            pthread_mutex_lock(&pp.mu);
            while (b->state != B_READY)
                pthread_cond_wait(&pp.ready, &pp.mu);
            b->state = B_TAKEN;
            bool last = pp.done && take == pp.fill;
            pthread_mutex_unlock(&pp.mu);
            stop = consume(&pp, b, local_copy(&pp, b), stop);
            pthread_mutex_lock(&pp.mu);
            b->state = B_FREE;
            pthread_cond_signal(&pp.freed);
            pthread_mutex_unlock(&pp.mu);
            if (last)
                break;
        }
        pthread_join(th, NULL);
        rc = pp.rc;
        if (stop && rc >= 0)
            rc = stop;
        if (pp.oom && rc >= 0)
            rc = th__err(err, TH_ENOMEM, path, "out of memory");
    }
    th__reader_set_callback(r, own_fn, own_ctx);
    th__reader_set_fast(r, own_fast && own_fast->wanted ? own_fast : NULL);
    for (size_t i = 0; i < NBATCH; i++)
        free(pp.b[i].arena);
    free(pp.local);
    pthread_cond_destroy(&pp.ready);
    pthread_cond_destroy(&pp.freed);
    pthread_mutex_destroy(&pp.mu);
    free(pp.b);
    free(pp.mask);
    return rc;
}
