#!/bin/sh
# Writes tests/vectors/qr_vectors.json: QR credential test vectors (docs/qr.md), built
# without memberlink's own code: the byte layout and Base45 here, every signature and key
# by the openssl command line tool.
#
#   sh tests/vectors/qr_vectors.sh > tests/vectors/qr_vectors.json
#
# Ed25519 is deterministic, so credentials come out the same on every run; ECDSA is not,
# so member codes (their display proofs) differ from run to run, and the committed file
# holds one run. The keys are public test keys: RFC 8032 section 7.1 TEST 1 (the issuer)
# and TEST 2 (an issuer no store knows), the RFC 6979 A.2.5 P-256 key (the phone) and a
# second P-256 key made up for these vectors.
set -eu

NOW=1767225600        # 2026-01-01T00:00:00Z, the terminal's time in every case
NOT_AFTER=1798761600  # 2027-01-01T00:00:00Z
WINDOW=60
KID=hq-2026-01
ISSUER_SEED=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
OTHER_SEED=4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb
DEVICE_D=c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721
OTHER_D=0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qrvec.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# hex digits on stdin -> bytes on stdout
unhex() {
    awk '{ for (i = 1; i < length($0); i += 2) printf "\\%03o", \
           index("0123456789abcdef", substr($0, i, 1)) * 16 + \
           index("0123456789abcdef", substr($0, i + 1, 1)) - 17 }' |
        { read -r esc || true; printf "$esc"; }
}

# bytes on stdin -> lowercase hex on stdout
hex() {
    od -An -v -tx1 | tr -d ' \n'
}

# text -> hex of its bytes
strhex() {
    printf %s "$1" | hex
}

# a u32 -> 8 hex digits, big-endian
u32() {
    printf %08x "$1"
}

# hex -> RFC 9285 Base45
base45() {
    printf %s "$1" | awk '
        function byte(i) {
            return (index("0123456789abcdef", substr(h, 2 * i + 1, 1)) - 1) * 16 + \
                   index("0123456789abcdef", substr(h, 2 * i + 2, 1)) - 1
        }
        function ch(v) { return substr(A, v + 1, 1) }
        {
            A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"; h = $0; n = length(h) / 2
            for (i = 0; i + 1 < n; i += 2) {
                v = byte(i) * 256 + byte(i + 1)
                out = out ch(v % 45) ch(int(v / 45) % 45) ch(int(v / 2025))
            }
            if (n % 2 == 1) { v = byte(n - 1); out = out ch(v % 45) ch(int(v / 45)) }
            printf "%s", out
        }'
}

# Ed25519 PEM from a 32-byte seed (PKCS#8 DER prefix + seed)
ed25519_key() {
    printf 302e020100300506032b657004220420%s "$1" | unhex |
        openssl pkey -inform DER -out "$2"
}

# P-256 PEM from a private scalar (SEC1 ECPrivateKey DER; openssl derives the point)
p256_key() {
    printf 30310201010420%sa00a06082a8648ce3d030107 "$1" | unhex |
        openssl ec -inform DER -out "$2" 2>/dev/null
}

ed25519_pub_hex() {
    openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | hex
}

p256_pub_compressed_hex() {
    openssl ec -in "$1" -pubout -conv_form compressed -outform DER 2>/dev/null | tail -c 33 | hex
}

# fingerprint: the first 4 bytes of SHA-256 over the raw Ed25519 public key
fingerprint() {
    ed25519_pub_hex "$1" | unhex | openssl dgst -sha256 -binary | head -c 4 | hex
}

# Ed25519 signature (hex) by key $1 over the bytes of hex $2
ed25519_sign() {
    printf %s "$2" | unhex >"$tmp/msg"
    openssl pkeyutl -sign -inkey "$1" -rawin -in "$tmp/msg" -out "$tmp/sig"
    hex <"$tmp/sig"
}

# ECDSA P-256 SHA-256 signature by key $1 over the bytes of hex $2, as raw r || s (hex)
ecdsa_sign() {
    printf %s "$2" | unhex >"$tmp/msg"
    openssl dgst -sha256 -sign "$1" -out "$tmp/sig.der" "$tmp/msg"
    openssl asn1parse -inform DER -in "$tmp/sig.der" |
        awk -F: '/INTEGER/ { v = tolower($NF); while (length(v) < 64) v = "0" v; printf "%s", v }'
}

ed25519_key "$ISSUER_SEED" "$tmp/issuer.pem"
ed25519_key "$OTHER_SEED" "$tmp/other.pem"
p256_key "$DEVICE_D" "$tmp/device.pem"
p256_key "$OTHER_D" "$tmp/device2.pem"
FP=$(fingerprint "$tmp/issuer.pem")
OTHER_FP=$(fingerprint "$tmp/other.pem")
DEVPUB=$(p256_pub_compressed_hex "$tmp/device.pem")

# credential ISSUER_PEM PREFIX ID NOT_AFTER [DEVICE_PUB_HEX] -> credential hex
credential() {
    body=01$(fingerprint "$1")$(printf %02x ${#3})$(strhex "$3")$(u32 "$4")00${5:-}
    printf %s "$body$(ed25519_sign "$1" "$(strhex "$2")$body")"
}

# proof DEVICE_PEM CREDENTIAL_HEX TIME COUNTER -> proof hex
proof() {
    tc=$(u32 "$3")$(u32 "$4")
    printf %s "$tc$(ecdsa_sign "$1" "$(strhex ML1P)$2$tc")"
}

first=1
# case NAME KIND PREFIX HEX EXPECTED ABOUT [ID NOT_AFTER [PROOF_TIME COUNTER]]
case_json() {
    [ "$first" = 1 ] || printf ',\n'
    first=0
    printf '    {\n      "name": "%s",\n      "about": "%s",\n      "kind": "%s",\n' "$1" "$6" "$2"
    printf '      "hex": "%s",\n      "text": "%s%s",\n' "$4" "$3" "$(base45 "$4")"
    if [ $# -ge 8 ]; then
        printf '      "id": "%s",\n      "not_after": %s,\n' "$7" "$8"
    fi
    if [ $# -ge 10 ]; then
        printf '      "proof_time": %s,\n      "counter": %s,\n' "$9" "${10}"
    fi
    printf '      "expected": "%s"\n    }' "$5"
}

LONG_ID=M0123456789-abcdefghij_KLMNOPQRS

cat <<EOF
{
  "about": "QR credentials: member codes (ML1:), guide cards (MLG1:), coupon codes (MLC1:). See docs/qr.md. Made by tests/vectors/qr_vectors.sh with the openssl command line tool.",
  "issuer": {
    "kid": "$KID",
    "seed_hex": "$ISSUER_SEED",
    "public_b64": "$(ed25519_pub_hex "$tmp/issuer.pem" | unhex | openssl base64 -A)",
    "fingerprint_hex": "$FP",
    "note": "the RFC 8032 section 7.1 TEST 1 key: public, for tests only"
  },
  "unknown_issuer": {
    "seed_hex": "$OTHER_SEED",
    "fingerprint_hex": "$OTHER_FP",
    "note": "the RFC 8032 section 7.1 TEST 2 key, which no keyring of these tests holds"
  },
  "device": {
    "private_hex": "$DEVICE_D",
    "public_hex": "$DEVPUB",
    "note": "the RFC 6979 A.2.5 P-256 key: public, for tests only"
  },
  "other_device": {
    "private_hex": "$OTHER_D"
  },
  "now": $NOW,
  "window": $WINDOW,
  "cases": [
EOF

C=$(credential "$tmp/issuer.pem" ML1: M1001 $NOT_AFTER "$DEVPUB")
case_json member_valid member ML1: "$C$(proof "$tmp/device.pem" "$C" $((NOW - 5)) 7)" ok \
    "a member code shown 5 s before the terminal's time" M1001 $NOT_AFTER $((NOW - 5)) 7
C=$(credential "$tmp/issuer.pem" ML1: $LONG_ID $NOT_AFTER "$DEVPUB")
case_json member_longest_id member ML1: "$C$(proof "$tmp/device.pem" "$C" $NOW 4294967295)" ok \
    "a 32-byte id and the largest counter: the longest text (QR_TEXT_MAX)" \
    $LONG_ID $NOT_AFTER $NOW 4294967295
C=$(credential "$tmp/issuer.pem" MLG1: G07 $NOT_AFTER)
case_json guide_valid guide MLG1: "$C" ok "a guide card" G07 $NOT_AFTER
C=$(credential "$tmp/issuer.pem" MLC1: CPN-20OFF $NOT_AFTER)
case_json coupon_valid coupon MLC1: "$C" ok "a bearer coupon" CPN-20OFF $NOT_AFTER
case_json coupon_as_guide guide MLG1: "$C" qr_bad_signature \
    "the coupon's bytes under the guide prefix: the prefix is signed"
C=$(credential "$tmp/issuer.pem" ML1: M1001 $((NOW - 1)) "$DEVPUB")
case_json member_credential_expired member ML1: \
    "$C$(proof "$tmp/device.pem" "$C" $NOW 8)" qr_expired "not_after one second before now"
C=$(credential "$tmp/issuer.pem" ML1: M1001 $NOW "$DEVPUB")
case_json member_credential_last_second member ML1: \
    "$C$(proof "$tmp/device.pem" "$C" $NOW 9)" ok "not_after equal to now: still valid" \
    M1001 $NOW $NOW 9
C=$(credential "$tmp/issuer.pem" ML1: M1001 $NOT_AFTER "$DEVPUB")
case_json member_proof_too_old member ML1: \
    "$C$(proof "$tmp/device.pem" "$C" $((NOW - WINDOW - 1)) 10)" qr_expired \
    "a display proof one second older than the window"
case_json member_proof_window_edge member ML1: \
    "$C$(proof "$tmp/device.pem" "$C" $((NOW + WINDOW)) 11)" ok \
    "a display proof exactly at the window's edge" M1001 $NOT_AFTER $((NOW + WINDOW)) 11
case_json member_proof_other_device member ML1: \
    "$C$(proof "$tmp/device2.pem" "$C" $NOW 12)" qr_bad_signature \
    "a display proof signed by a device key other than the credential's"
C=$(credential "$tmp/other.pem" ML1: M1001 $NOT_AFTER "$DEVPUB")
case_json member_unknown_key member ML1: "$C$(proof "$tmp/device.pem" "$C" $NOW 13)" \
    qr_unknown_key "a credential signed by a key the keyring does not hold"
printf '\n  ]\n}\n'
