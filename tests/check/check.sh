#!/bin/sh
# make check: what the compiler alone does not hold the tree to (docs/architecture.md).
#
#   layers        every #include "x.h" of a source tree resolves inside the trees it may use
#                 (the table below, the same one the Makefile's include paths give): an include
#                 across a forbidden line fails here even where a path would let it build; a
#                 project header is included by its name, in quotes (no "../", no <x.h>); a C
#                 file outside tests/ and bench/ belongs to a tree of the table
#   banned        none of strcpy, strcat, sprintf, vsprintf, atoi, atol, atoll, strtok, gets
#                 (STYLE.md habit 8) in any C file, tests included
#   format        clang-format --dry-run --Werror over every C file (.clang-format)
#   long files    a C file of the programs over 800 lines says why at its top ("Long file:")
#
# Each failure is printed as file:line: what; the exit status is 1 when any check failed.
set -u
cd "$(dirname "$0")/../.." || exit 2

if git rev-parse --git-dir >/dev/null 2>&1; then
    files=$(git ls-files '*.c' '*.h')
else
    files=$(find . -name '*.c' -o -name '*.h' | sed 's|^\./||' | grep -v '^build')
fi
failed=0
fail() {
    echo "check: $*"
    failed=1
}

# ---- layers ------------------------------------------------------------------------------
# tree: the trees (directories) its sources may include from, its own first.
allowed() {
    case $1 in
    lib/*) echo "lib" ;;
    sync/wire/*) echo "sync/wire lib" ;;
    sync/engine/*) echo "sync/engine sync/wire lib" ;;
    agent/config/*) echo "agent/config lib" ;;
    agent/*) echo "agent agent/config sync/engine sync/wire lib" ;;
    hq/*) echo "hq sync/wire lib" ;;
    cli/*) echo "cli agent/config lib" ;;
    drivers/*) echo "drivers lib" ;;
    tests/* | bench/*) echo "*" ;;
    *) echo "none" ;;
    esac
}
trees="lib sync/wire sync/engine agent/config agent hq cli drivers"
in_a_tree() {
    for d in $trees; do
        [ -f "$d/$1" ] && echo "$d/$1" && return
    done
}
for f in $files; do
    dirs=$(allowed "$f")
    [ "$dirs" = "*" ] && continue
    if [ "$dirs" = "none" ]; then
        echo "check: $f: in no tree of the layers table (docs/architecture.md); add it there"
        continue
    fi
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*<' "$f" | while IFS= read -r hit; do
        line=${hit%%:*}
        h=$(printf '%s' "$hit" | sed 's/.*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/')
        where=$(in_a_tree "$h")
        [ -n "$where" ] && echo "check: $f:$line: includes $where as <$h>; a project header is included in quotes"
    done
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | while IFS= read -r hit; do
        line=${hit%%:*}
        h=$(printf '%s' "$hit" | sed 's/.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/')
        case $h in
        /* | ../* | */../* | ./*)
            echo "check: $f:$line: includes \"$h\" by a path; include a header by its name"
            continue
            ;;
        esac
        ok=0
        for d in $dirs; do
            [ -f "$d/$h" ] && ok=1 && break
        done
        if [ $ok = 0 ]; then
            where=$(in_a_tree "$h")
            if [ -n "$where" ]; then
                echo "check: $f:$line: includes $where, outside what ${f%/*} may use ($dirs)"
            else
                echo "check: $f:$line: includes \"$h\", which no tree holds"
            fi
        fi
    done
done >"${TMPDIR:-/tmp}/ml-check-layers.$$"
if [ -s "${TMPDIR:-/tmp}/ml-check-layers.$$" ]; then
    cat "${TMPDIR:-/tmp}/ml-check-layers.$$"
    failed=1
fi
rm -f "${TMPDIR:-/tmp}/ml-check-layers.$$"

# ---- banned functions --------------------------------------------------------------------
banned=$(printf '%s\n' $files | xargs grep -HnE \
    '(^|[^A-Za-z0-9_])(strcpy|strcat|sprintf|vsprintf|atoi|atol|atoll|strtok|gets)[[:space:]]*\(' \
    2>/dev/null | grep -v '^tests/check/')
if [ -n "$banned" ]; then
    printf '%s\n' "$banned" | sed 's/^/check: banned function: /'
    failed=1
fi

# ---- formatting --------------------------------------------------------------------------
if command -v clang-format >/dev/null 2>&1; then
    out=$(printf '%s\n' $files | xargs clang-format --dry-run --Werror 2>&1)
    if [ -n "$out" ]; then
        printf '%s\n' "$out" | grep 'error:' | sed 's/^/check: format: /' | head -40
        echo "check: format: run 'make format' (clang-format -i) to fix"
        failed=1
    fi
else
    fail "clang-format is not installed (make deps installs it)"
fi

# ---- long files --------------------------------------------------------------------------
for f in $(printf '%s\n' $files | grep -E '\.c$' | grep -vE '^(tests|bench)/'); do
    n=$(wc -l <"$f")
    if [ "$n" -gt 800 ] && ! head -n 30 "$f" | grep -q 'Long file:'; then
        fail "$f: $n lines; split it, or say at its top why it stays whole (\"Long file: ...\")"
    fi
done

if [ $failed = 0 ]; then
    echo "check: layers, banned functions, format and long files: ok"
fi
exit $failed
