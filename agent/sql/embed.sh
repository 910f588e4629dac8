#!/bin/sh
# Turns the migration files into a C array (one string per file, in order).
# Usage: embed.sh out.c file1.sql file2.sql ...
set -eu
out=$1; shift
{
  echo "/* Generated from the migration files in agent/sql by agent/sql/embed.sh; do not edit. */"
  echo "#include <stddef.h>"
  echo "const char *const store_migrations[] = {"
  for f in "$@"; do
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$f"
    echo "    ,"
  done
  echo "};"
  echo "const size_t store_migration_count = sizeof(store_migrations) / sizeof(store_migrations[0]);"
} > "$out"
