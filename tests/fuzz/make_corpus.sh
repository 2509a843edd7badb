#!/bin/sh
# make_corpus.sh SRC OUT - writes the seed corpora of the fuzz targets into OUT/<target>/,
# from what the tree already holds: the golden cases (tests/golden/cases), the rule
# fixtures (fixtures/), the shipped rules (rules/) and the committed seeds
# (tests/fuzz/seeds/). Run by run_all.sh before fuzzing; OUT is a build directory, never
# the source tree. Deterministic; existing files in OUT are kept (a corpus grows).
#
#   reader      every events file and golden input (any format, gzip included)
#   query       every `query:` of a rule, with the events of its case after "\n---\n"
#   template    every `message:` of a rule (one-line ones), likewise with events
#   rule_yaml   every YAML rule, with its case's events after "\n#events\n"
#   rule_json   every JSON rule, likewise
#   config      tests/fuzz/seeds/config only (the config loader's own seeds)
#   jscan       the reader's plain (not gzipped) inputs, and tests/fuzz/seeds/jscan
set -eu
src=$1
out=$2
targets="reader query template rule_yaml rule_json config jscan"
for t in $targets; do
    mkdir -p "$out/$t"
    if [ -d "$src/tests/fuzz/seeds/$t" ]; then
        cp "$src/tests/fuzz/seeds/$t"/* "$out/$t/" 2>/dev/null || true
    fi
done

n=0
# A seed name from a path: the path with / turned into _.
seed_name() { printf '%s' "$1" | sed 's|^\./||; s|/|_|g'; }

# Events of a case: its first events file, at most 16 KiB (seeds should be small).
case_events() { # DIR
    for f in "$1"/input "$1"/events.ndjson; do
        if [ -f "$f" ]; then
            head -c 16384 "$f"
            return 0
        fi
    done
    return 0
}

# Events for a rule file: those of its case directory (golden cases, fixture error
# cases), or for a shipped rule those of its first fixture case that fires.
rule_events() { # FILE
    case "$1" in
    rules/*)
        id=$(basename "$1")
        id=${id%.*}
        for d in fixtures/"$id"/fires-* fixtures/"$id"/*; do
            if [ -f "$d/events.ndjson" ]; then
                case_events "$d"
                return 0
            fi
        done
        ;;
    *)
        dir=$(dirname "$1")
        [ "$(basename "$dir")" = rules ] && dir=$(dirname "$dir")
        case_events "$dir"
        ;;
    esac
}

cd "$src"
# reader: every input file (gzip and all) of the golden cases and fixtures.
find tests/golden/cases fixtures -type f \( -name input -o -name 'events*' -o -path '*/input/*' \) \
    -size -256k | sort | while read -r f; do
    cp "$f" "$out/reader/$(seed_name "$f")"
    case "$f" in *.gz) ;; *) cp "$f" "$out/jscan/$(seed_name "$f")" ;; esac
done

# rule_yaml / rule_json: rule files, with events when they sit in a case directory.
find tests/golden/cases fixtures rules -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) \
    -size -64k | sort | while read -r f; do
    case "$f" in *.json) t=rule_json ;; *) t=rule_yaml ;; esac
    {
        cat "$f"
        ev=$(rule_events "$f")
        if [ -n "$ev" ]; then
            printf '\n#events\n%s\n' "$ev"
        fi
    } >"$out/$t/$(seed_name "$f")"
done

# query and template: the queries and one-line messages of the YAML rules.
find tests/golden/cases rules -type f -name '*.yaml' | sort | while read -r f; do
    ev=$(rule_events "$f" | head -c 4096)
    i=0
    sed -n "s/^ *-\{0,1\} *query: *//p" "$f" | while read -r q; do
        i=$((i + 1))
        q=$(printf '%s' "$q" | sed "s/^'\(.*\)'\$/\1/; s/^\"\(.*\)\"\$/\1/; s/''/'/g")
        if [ -n "$ev" ]; then
            printf '%s\n---\n%s\n' "$q" "$ev"
        else
            printf '%s' "$q"
        fi >"$out/query/$(seed_name "$f")_$i"
    done
    sed -n "s/^message: *//p" "$f" | while read -r m; do
        m=$(printf '%s' "$m" | sed "s/^'\(.*\)'\$/\1/; s/^\"\(.*\)\"\$/\1/; s/''/'/g")
        [ -z "$m" ] || [ "$m" = "|" ] || [ "$m" = ">" ] && continue
        if [ -n "$ev" ]; then
            printf '%s\n---\n%s\n' "$m" "$ev"
        else
            printf '%s' "$m"
        fi >"$out/template/$(seed_name "$f")"
    done
done
for t in $targets; do
    n=$(find "$out/$t" -type f | wc -l)
    echo "make_corpus: $t: $n seeds"
done
