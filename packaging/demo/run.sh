#!/bin/sh
# make run: seed the demo HQ facts and start memberlinkd on its embedded defaults
# (data in ./var, API on 127.0.0.1:8787). Stop it with Ctrl-C.
set -eu
build=${1:-build}
mkdir -p var
"$build/memberlinkd" --import-facts packaging/demo/facts.ndjson
token=$(cat var/api.token)
cat <<EOT

memberlinkd demo
  API:   http://127.0.0.1:8787
  token: $token
  data:  ./var  (delete it to start over)

Try these in another terminal (the CLI reads the same defaults and token):
  1. $build/memberlink identify --phone 13800138000
  2. $build/memberlink checkout --member M1001 --item TS-01:apparel:2:59.90 --item SH-9:shoes:1:399 --coupon CPN-20OFF --points 500
  3. $build/memberlink refund last --line 1

Or with curl:
  curl -s -H "Authorization: Bearer $token" http://127.0.0.1:8787/v1/status

EOT
exec "$build/memberlinkd"
