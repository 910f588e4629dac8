#!/usr/bin/env bash
# make run: a whole demo on this machine, everything on loopback:
#   a mosquitto broker, memberlink-hq (ingest + catch-up endpoint), and memberlinkd on its
#   API defaults (127.0.0.1:8787, data in ./var). HQ pushes the demo data (campaigns,
#   guides, members, coupons) to the store over MQTT, signed; sales go back to HQ.
# Ctrl-C stops all three.
set -euo pipefail
build=${1:-build}
top=$(pwd)
var=$top/var
mkdir -p "$var/broker" "$var/hq"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p=$1
    while ! port_free "$p"; do p=$((p + 1)); done
    echo "$p"
}
port_free 8787 || { echo "make run: 127.0.0.1:8787 is taken (is a memberlinkd running?)" >&2; exit 1; }
mqtt_port=$(pick_port 18830)
http_port=$(pick_port 18788)

pids=()
cleanup() {
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The brand's phone key: HQ keys members' numbers with it, the terminal keys what is typed.
[ -s "$var/phone.key" ] || { umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$var/phone.key"; }
phone_key=$(cat "$var/phone.key")

cat > "$var/broker/mosquitto.conf" <<EOT
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence false
EOT
# No broker persistence: what the broker loses, the store catches up over HTTP.
mosquitto -c "$var/broker/mosquitto.conf" 2> "$var/broker/mosquitto.log" & pids+=($!)

cat > "$var/hq/hq.conf" <<EOT
[hq]
brand = demo
data_dir = $var/hq
stores = S001
phone_key = $phone_key
http_listen = 127.0.0.1:$http_port
[mqtt]
host = 127.0.0.1
port = $mqtt_port
EOT
hq=("$build/memberlink-hq" -c "$var/hq/hq.conf")
[ -s "$var/hq/hq-signing.key" ] || "${hq[@]}" keygen >/dev/null 2>&1
pubkey_line=$("${hq[@]}" pubkey)
"${hq[@]}" serve 2> "$var/hq/serve.log" & pids+=($!)

cat > "$var/memberlink.conf" <<EOT
[store]
brand = demo
store = S001
terminal = T01
[agent]
data_dir = $var
api_listen = 127.0.0.1:8787
[mqtt]
host = 127.0.0.1
port = $mqtt_port
[hq]
url = http://127.0.0.1:$http_port
$pubkey_line
EOT
"$build/memberlinkd" -c "$var/memberlink.conf" 2> "$var/memberlinkd.log" & pids+=($!)
for _ in $(seq 1 100); do [ -s "$var/api.token" ] && curl -sf -o /dev/null \
    -H "Authorization: Bearer $(cat "$var/api.token")" http://127.0.0.1:8787/v1/status && break; sleep 0.1; done
token=$(cat "$var/api.token")
status() { curl -s -H "Authorization: Bearer $token" http://127.0.0.1:8787/v1/status; }

# HQ pushes the demo data once (a second run would resend the same versions).
facts=packaging/demo/facts.ndjson
if [ ! -e "$var/hq/demo-pushed" ]; then
    tmp=$(mktemp -d)
    n=0
    grep '"kind":"campaign.upsert"' "$facts" | while IFS= read -r line; do
        n=$((n + 1)); printf '%s\n' "$line" > "$tmp/campaign-$n.json"
        "${hq[@]}" push campaign "$tmp/campaign-$n.json" >/dev/null
    done
    grep '"kind":"guide.upsert"' "$facts" > "$tmp/guides.ndjson"
    grep '"kind":"member.upsert"' "$facts" > "$tmp/members.ndjson"
    "${hq[@]}" push guide "$tmp/guides.ndjson" >/dev/null
    "${hq[@]}" push member "$tmp/members.ndjson" >/dev/null
    "${hq[@]}" bind guide --member M1001 --guide G01 --until 2051222400000 --version 1 >/dev/null
    "${hq[@]}" grant coupon --id CPN-20OFF --kind amount_off --value 2000 --member M1001 \
        --campaign welcome-coupons --min-spend 10000 --categories apparel \
        --from 1735689600000 --to 2051222400000 --version 1 >/dev/null
    "${hq[@]}" grant coupon --id CPN-10PCT --kind percent_off --value 1000 --max-off 5000 \
        --member M1001 --campaign welcome-coupons --from 1735689600000 --to 2051222400000 \
        --version 1 >/dev/null
    "${hq[@]}" grant coupon --id BEARER-5 --kind amount_off --value 500 --uses 100 \
        --campaign welcome-coupons --from 1735689600000 --to 2051222400000 --version 1 >/dev/null
    rm -rf "$tmp"
    touch "$var/hq/demo-pushed"
fi
# The member app's wallet for M1001: a credential from HQ and the phone's own key.
[ -s "$var/hq/m1001.wallet" ] ||
    "${hq[@]}" enroll --member M1001 --wallet "$var/hq/m1001.wallet" >/dev/null
for _ in $(seq 1 100); do
    status | grep -q '"campaigns":3' && status | grep -q '"coupons":3' && break
    sleep 0.1
done

cat <<EOT

memberlink demo — broker 127.0.0.1:$mqtt_port, HQ catch-up http://127.0.0.1:$http_port
  store API: http://127.0.0.1:8787
  token:     $token
  data:      ./var  (delete it to start over; logs in var/*.log, var/hq/serve.log)

HQ pushed the demo campaigns, guides, members and coupons; the store has them:
  $(status)

Try these in another terminal (the CLI reads the same defaults and token):
  1. $build/memberlink identify --phone 138-0013-8000
  2. $build/memberlink checkout --member M1001 --item TS-01:apparel:2:59.90 --item SH-9:shoes:1:399 --coupon CPN-20OFF --points 500
  3. $build/memberlink refund last --line 1
  4. the member's app code (renews on every call, valid for a minute, shown once):
     $build/memberlink identify --qr "\$($build/memberlink-hq -c var/hq/hq.conf member-qr --wallet var/hq/m1001.wallet)"
  5. a guide card:
     $build/memberlink identify --qr "\$($build/memberlink-hq -c var/hq/hq.conf guide-card --guide G01)"

and see the sale arrive at HQ:
     $build/memberlink-hq -c var/hq/hq.conf report sales

EOT
wait "${pids[2]}"
