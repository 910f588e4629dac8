/*
 * canon: the canonical JSON text of a value, the bytes HQ signatures cover.
 *
 * This is a contract: HQ, the reference HQ tool and third-party HQs produce exactly these
 * bytes, and tests/vectors/sign_vectors.json pins them. Change nothing here without a new
 * signing-input prefix (see sign.h).
 *
 * The canonical text of a value is:
 *
 *   - No whitespace anywhere outside strings.
 *   - Object: "{" members "}" with members "key":value separated by ",". Members are sorted
 *     by key, comparing the keys' UTF-8 bytes as unsigned bytes (memcmp order); when one key
 *     is a prefix of the other, the shorter comes first ("a" < "ab" < "b"). This is Unicode
 *     code point order. It is NOT the UTF-16 order of RFC 8785 (JCS): the two differ only
 *     when a key has a character above U+FFFF and another key has one in U+E000..U+FFFF at
 *     the same position. Two members with the same key: refused.
 *   - Array: "[" elements "]" separated by ",", in their order.
 *   - String (values and keys alike): "\"" then the string's UTF-8 bytes, each output as is
 *     except: '"' as \", '\' as \\, 0x08 as \b, 0x0c as \f, 0x0a as \n, 0x0d as \r, 0x09 as
 *     \t, every other byte below 0x20 as \u00XX with two lowercase hex digits (0x1f ->
 *     \u001f); then "\"". Nothing else is escaped: not '/', not 0x7f, not non-ASCII, which
 *     stays raw UTF-8. The bytes must be valid UTF-8 (RFC 3629: shortest form, no
 *     surrogates U+D800..U+DFFF, nothing above U+10FFFF); otherwise refused. U+0000 cannot
 *     be carried (the parsed tree holds NUL-terminated strings and cuts the string there),
 *     so producers must not put it in a signed message: it would fail verification.
 *   - Number: integers only, -2^53 <= n <= 2^53, printed in plain decimal: optional "-",
 *     no leading zeros, no "+", no fraction, no exponent; minus zero prints "0". A number
 *     that is not an integer (1.5), not finite, or outside that range: refused. The value
 *     counts, not how the producer wrote it: 1.0 and 1e2 in a message text canonicalize as
 *     "1" and "100". Numbers are held as doubles, so a text such as 9007199254740993
 *     (2^53+1) has already become 2^53 when it reaches here; producers must keep integers
 *     within the range.
 *   - true, false and null as those words.
 *   - Nesting: the outermost array or object is level 1, an array or object inside it
 *     level 2, and so on; scalars add no level. At most CANON_DEPTH_MAX levels; deeper:
 *     refused.
 *
 * Equivalent for ASCII keys, integer numbers and no U+0000: RFC 8785 (JCS), and Python's
 * json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
 */
#ifndef ML_CANON_H
#define ML_CANON_H

#include <cjson/cJSON.h>

#define CANON_DEPTH_MAX 16
#define CANON_INT_MAX 9007199254740992LL /* 2^53: larger integers are not exact in a double */
/* Bytes of canonical text produced at most. Far above any message a transport accepts;
 * it bounds the buffer, it is not part of the contract. */
#define CANON_TEXT_MAX (16u * 1024u * 1024u)

/*
 * Returns the canonical text of v, NUL-terminated (the text itself holds no NUL byte).
 * Returns NULL when v breaks a rule above (duplicate key, invalid UTF-8, non-integer or
 * out-of-range number, too deep, a raw or invalid cJSON item, a NULL key or string), when
 * the text would pass CANON_TEXT_MAX, or when memory runs out. Borrows v; caller frees the
 * result with free().
 */
char *canon_json(const cJSON *v);

/*
 * As canon_json() for an object, leaving out its top-level member named `omit` (exact,
 * case-sensitive; nested members of that name stay). A duplicate of `omit` is still a
 * duplicate key and refused. Returns NULL also when obj is not an object.
 */
char *canon_json_omit(const cJSON *obj, const char *omit);

#endif
