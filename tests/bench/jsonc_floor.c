/*
 * jsonc_floor.c - the benchmark's parse-only floor: reads NDJSON (files, or stdin) and
 * parses every line with json-c, then frees it, and does nothing else. It is what any
 * engine that parses each event into a json-c tree costs at the very least; trailhound's
 * run with the whole rule pack is measured against it (tests/bench/run.sh).
 *
 *   jsonc_floor [FILE...]      prints the number of lines parsed into objects
 *
 * The loop is the plain one: large reads, lines found with memchr, one reused tokener.
 * Exit 0, 1 when a file cannot be read.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long parse_stream(FILE *f, json_tokener *tok, int *err)
{
    static char buf[1 << 22];
    size_t have = 0;
    unsigned long long objects = 0;
    for (;;) {
        size_t got = fread(buf + have, 1, sizeof buf - have, f);
        have += got;
        char *p = buf, *end = buf + have;
        char *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL || (got == 0 && p < end)) {
            char *stop = nl ? nl : end;
            json_tokener_reset(tok);
            json_object *o = json_tokener_parse_ex(tok, p, (int)(stop - p));
            if (o && json_object_is_type(o, json_type_object))
                objects++;
            json_object_put(o);
            p = nl ? nl + 1 : end;
        }
        have = (size_t)(end - p);
        memmove(buf, p, have);
        if (got == 0)
            break;
        if (have == sizeof buf) { /* a line longer than the buffer: not an event */
            *err = 1;
            break;
        }
    }
    if (ferror(f))
        *err = 1;
    return objects;
}

int main(int argc, char **argv)
{
    json_tokener *tok = json_tokener_new();
    unsigned long long objects = 0;
    int err = 0;
    if (argc < 2)
        objects = parse_stream(stdin, tok, &err);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            err = 1;
            continue;
        }
        objects += parse_stream(f, tok, &err);
        fclose(f);
    }
    json_tokener_free(tok);
    printf("%llu\n", objects);
    return err;
}
