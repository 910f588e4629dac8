#!/bin/sh
# docs_test: every example in docs/api.md (curl and memberlink CLI) runs, in order, against
# a real memberlinkd seeded with the demo facts, and answers without an error. The URL and
# token of the examples are swapped for the test daemon's. Prints cmocka-style summary
# lines so tests/run.sh counts each example as a test.
set -u
bin=${ML_BIN:-$(pwd)/build}
doc=docs/api.md
dir=$(mktemp -d /tmp/memberlink-docs-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# Start the daemon on a free port: try a few random ones (exit 2 = cannot listen).
started=0
for try in 1 2 3 4 5 6 7 8; do
    port=$(( ($$ * 7 + try * 7919) % 20000 + 30000 ))
    cat >"$dir/ml.conf" <<EOT
[agent]
data_dir = $dir
api_listen = 127.0.0.1:$port
EOT
    if [ "$try" = 1 ]; then
        "$bin/memberlinkd" -c "$dir/ml.conf" --import-facts packaging/demo/facts.ndjson \
            2>>"$dir/log" || { echo "[  FAILED  ] 1 test(s), import"; exit 1; }
    fi
    "$bin/memberlinkd" -c "$dir/ml.conf" 2>>"$dir/log" &
    pid=$!
    for i in $(seq 1 50); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/v1/status"; then started=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ "$started" = 1 ] && break
    pid=
done
[ "$started" = 1 ] || { cat "$dir/log"; echo "[  FAILED  ] 1 test(s), daemon did not start"; exit 1; }
token=$(cat "$dir/api.token")

# Split the sh code blocks into one example per command: join "\" continuations and lines
# inside an open single-quoted string (a JSON body written over several lines).
awk '/^```sh/{f=1;next} /^```/{f=0} f' "$doc" |
    awk '{
        if (sub(/\\$/, "")) { buf = buf $0; next }
        buf = buf $0
        if (gsub(/\047/, "\047", buf) % 2 == 1) { buf = buf " "; next }
        print buf; buf = ""
    }' >"$dir/examples"

passed=0
failed=0
n=0
while IFS= read -r line; do
    case "$line" in
    TOKEN=*) continue ;;
    curl*) kind=curl ;;
    memberlink*) kind=cli ;;
    *) continue ;;
    esac
    n=$((n + 1))
    cmd=$(printf '%s\n' "$line" |
        sed -e "s#http://127.0.0.1:8787#http://127.0.0.1:$port#g" \
            -e "s#^memberlink -c [^ ]*#memberlink#" \
            -e "s#^memberlink #$bin/memberlink -c $dir/ml.conf #")
    echo "[ RUN      ] docs example $n: $line"
    out=$(TOKEN=$token sh -c "$cmd" 2>&1)
    rc=$?
    ok=1
    [ "$rc" -eq 0 ] || ok=0
    [ -n "$out" ] || ok=0
    if [ "$kind" = curl ]; then
        case "$out" in
        *'"error"'*) ok=0 ;;
        esac
    fi
    if [ "$ok" = 1 ]; then
        passed=$((passed + 1))
        echo "[       OK ] docs example $n"
    else
        failed=$((failed + 1))
        printf '%s\n' "$out" | head -5
        echo "[  FAILED  ] docs example $n (exit $rc)"
    fi
done <"$dir/examples"

[ "$n" -gt 0 ] || { echo "[  FAILED  ] 1 test(s), no examples found in $doc"; exit 1; }
echo "[  PASSED  ] $passed test(s)."
[ "$failed" -eq 0 ] || { echo "[  FAILED  ] $failed test(s), listed above"; exit 1; }
exit 0
