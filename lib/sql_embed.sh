#!/bin/sh
# Turns migration files into a C array, one string per file in order, for db.h's
# migration runner: const char *const NAME[] and const size_t NAME_count.
# Usage: sql_embed.sh out.c NAME file1.sql file2.sql ...
set -eu
out=$1; name=$2; shift 2
{
  echo "/* Generated from $* by lib/sql_embed.sh; do not edit. */"
  echo "#include <stddef.h>"
  echo "const char *const ${name}[] = {"
  for f in "$@"; do
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$f"
    echo "    ,"
  done
  echo "};"
  echo "const size_t ${name}_count = sizeof(${name}) / sizeof(${name}[0]);"
} > "$out"
