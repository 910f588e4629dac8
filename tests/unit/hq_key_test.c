/*
 * hq_key_test: unit tests for hq_key.h, HQ's signing key files in the data dir.
 *
 * Each test works in a fresh temporary directory: keygen writes the key (0600) and the kid,
 * refuses to replace a key without force and refuses bad kids before touching anything;
 * load gives back the same key and kid, and refuses a missing, damaged, encrypted or
 * non-Ed25519 key and a damaged kid file; the printed store line holds the key's public
 * half, so a message the loaded key signs verifies with a keyring built from that line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hq_key.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define T0 INT64_C(1767225600000)
#define KID_32 "abcdefghijklmnopqrstuvwxyz_-0123"

struct fx {
    char dir[64];      /* the temporary directory */
    char data_dir[96]; /* <dir>/hq: keygen creates it */
    char key_path[128], kid_path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ml-hq-key-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->data_dir, sizeof(f->data_dir), "%s/hq", f->dir);
    snprintf(f->key_path, sizeof(f->key_path), "%s/" HQ_KEY_FILE, f->data_dir);
    snprintf(f->kid_path, sizeof(f->kid_path), "%s/" HQ_KID_FILE, f->data_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char buf[32768];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, buf, n + 1);
    if (ret_len)
        *ret_len = n;
    return out;
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return sb.st_mode & 07777;
}

static void generate(struct fx *f, const char *kid, int force, char line[HQ_PUBKEY_LINE_MAX])
{
    char err[512] = "";
    ml_err rc = hq_key_generate(f->data_dir, kid, force, line, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("hq_key_generate: %s: %s", ml_strerror(rc), err);
}

static EVP_PKEY *load(struct fx *f, char kid[SIGN_KID_MAX + 1])
{
    char err[512] = "";
    EVP_PKEY *key = NULL;
    ml_err rc = hq_key_load(f->data_dir, &key, kid, err, sizeof(err));
    if (rc != ML_OK)
        fail_msg("hq_key_load: %s: %s", ml_strerror(rc), err);
    return key;
}

/* A message signed by key for topic. Caller frees with cJSON_Delete(). */
static cJSON *signed_message(EVP_PKEY *key, const char *kid, const char *topic)
{
    cJSON *msg = cJSON_Parse("{\"v\":1,\"id\":\"m1\",\"kind\":\"member.upsert\",\"version\":1,"
                             "\"issued\":1767225600000,\"expires\":1767312000000,"
                             "\"body\":{\"member_id\":\"M1\"}}");
    assert_non_null(msg);
    assert_int_equal(sign_message(key, kid, topic, msg), ML_OK);
    return msg;
}

/* keygen's line is what a store puts in its config; what the key signs verifies with it. */
static void generate_writes_a_private_key_and_kid_and_the_store_line(void **state)
{
    struct fx *f = *state;
    char line[HQ_PUBKEY_LINE_MAX], kid[SIGN_KID_MAX + 1] = "";
    generate(f, HQ_KID_DEFAULT, 0, line);

    assert_int_equal(strncmp(line, "pubkey = k1=", 12), 0);
    assert_int_equal(strlen(line), 12 + SIGN_PUB_B64_LEN);
    assert_int_equal(mode_of(f->key_path), 0600);
    assert_int_equal(mode_of(f->kid_path), 0644);
    assert_int_equal(mode_of(f->data_dir), 0750);
    char *kid_text = read_file(f->kid_path, NULL);
    assert_string_equal(kid_text, "k1\n");
    free(kid_text);
    char *pem = read_file(f->key_path, NULL);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    free(pem);

    EVP_PKEY *key = load(f, kid);
    assert_string_equal(kid, "k1");
    char again[HQ_PUBKEY_LINE_MAX];
    assert_int_equal(hq_key_pubkey_line(key, kid, again), ML_OK);
    assert_string_equal(again, line);

    struct sign_keyring *kr = sign_keyring_new();
    assert_non_null(kr);
    assert_int_equal(sign_keyring_add_spec(kr, line + strlen("pubkey = ")), ML_OK);
    cJSON *msg = signed_message(key, kid, "ml/demo/s/S001/inbox");
    struct ml_refusal r = {0};
    assert_int_equal(sign_verify(kr, "ml/demo/s/S001/inbox", msg, T0, &r), ML_OK);
    cJSON_Delete(msg);
    sign_keyring_free(kr);
    EVP_PKEY_free(key);
}

/* Stores trust the key: a second keygen is refused unless forced, and changes nothing. */
static void generate_replaces_an_existing_key_only_with_force(void **state)
{
    struct fx *f = *state;
    char line[HQ_PUBKEY_LINE_MAX], line2[HQ_PUBKEY_LINE_MAX] = "", err[512] = "";
    char kid[SIGN_KID_MAX + 1] = "";
    generate(f, "k1", 0, line);
    size_t len = 0, len2 = 0;
    char *before = read_file(f->key_path, &len);

    assert_int_equal(hq_key_generate(f->data_dir, "k2", 0, line2, err, sizeof(err)), ML_CONFIG);
    assert_non_null(strstr(err, "--force"));
    assert_non_null(strstr(err, f->key_path));
    char *after = read_file(f->key_path, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(after, before, len);
    free(after);
    EVP_PKEY_free(load(f, kid));
    assert_string_equal(kid, "k1");

    generate(f, "k2", 1, line2);
    assert_int_equal(strncmp(line2, "pubkey = k2=", 12), 0);
    assert_string_not_equal(line2 + 12, line + 12); /* a new key */
    EVP_PKEY *key = load(f, kid);
    assert_string_equal(kid, "k2");
    char again[HQ_PUBKEY_LINE_MAX];
    assert_int_equal(hq_key_pubkey_line(key, kid, again), ML_OK);
    assert_string_equal(again, line2);
    assert_int_equal(mode_of(f->key_path), 0600);
    EVP_PKEY_free(key);
    free(before);
}

static void generate_refuses_a_bad_kid_before_writing_anything(void **state)
{
    struct fx *f = *state;
    static const char *const kids[] = {"", KID_32 "4", "bad kid", "k/1", "k.1", "k=1", "k1\n"};
    for (size_t i = 0; i < ARRAY_LEN(kids); i++) {
        char line[HQ_PUBKEY_LINE_MAX], err[512] = "";
        if (hq_key_generate(f->data_dir, kids[i], 0, line, err, sizeof(err)) != ML_CONFIG)
            fail_msg("kid \"%s\" accepted", kids[i]);
        assert_non_null(strstr(err, "kid"));
        assert_int_equal(access(f->data_dir, F_OK), -1);
    }
    char line[HQ_PUBKEY_LINE_MAX], kid[SIGN_KID_MAX + 1] = "";
    generate(f, KID_32, 0, line);
    EVP_PKEY_free(load(f, kid));
    assert_string_equal(kid, KID_32);
}

static void load_without_a_key_is_noentry_and_sets_nothing(void **state)
{
    struct fx *f = *state;
    char err[512] = "", kid[SIGN_KID_MAX + 1] = "unset";
    EVP_PKEY *sentinel = (EVP_PKEY *)&err, *key = sentinel;
    assert_int_equal(hq_key_load(f->data_dir, &key, kid, err, sizeof(err)), ML_NOENTRY);
    assert_ptr_equal(key, sentinel);
    assert_string_equal(kid, "unset");
    assert_non_null(strstr(err, "keygen"));
}

/* PEM of key written by OpenSSL; pass a cipher to encrypt it. Caller frees. */
static char *pem_of(EVP_PKEY *key, const EVP_CIPHER *cipher, size_t *ret_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, cipher ? "secret" : NULL,
                                                   cipher ? 6 : 0, NULL, NULL),
                     1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    char *out = malloc((size_t)n + 1);
    assert_non_null(out);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    *ret_len = (size_t)n;
    BIO_free(bio);
    return out;
}

/* A key file that holds no unencrypted Ed25519 private key is refused, never prompted for;
 * neither the key nor the kid is set. */
static void load_refuses_a_damaged_encrypted_or_foreign_key(void **state)
{
    struct fx *f = *state;
    char line[HQ_PUBKEY_LINE_MAX];
    generate(f, "k1", 0, line);
    size_t good_len = 0;
    char *good = read_file(f->key_path, &good_len);

    EVP_PKEY *ed = sign_key_generate(), *ec = EVP_EC_gen("P-256");
    assert_non_null(ed);
    assert_non_null(ec);
    size_t enc_len = 0, ec_len = 0;
    char *encrypted = pem_of(ed, EVP_aes_256_cbc(), &enc_len);
    char *foreign = pem_of(ec, NULL, &ec_len);
    BIO *pub_bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(pub_bio, ed), 1);
    char *pub_data = NULL;
    long pub_len = BIO_get_mem_data(pub_bio, &pub_data);

    const struct {
        const char *name;
        const char *data;
        size_t len;
        ml_err want;
    } cases[] = {
        {"garbage", "not a key\n", 10, ML_CONFIG},
        {"empty", "", 0, ML_CONFIG},
        {"truncated PEM", good, good_len / 2, ML_CONFIG},
        {"encrypted Ed25519", encrypted, enc_len, ML_CONFIG},
        {"EC P-256", foreign, ec_len, ML_CONFIG},
        {"Ed25519 public key", pub_data, (size_t)pub_len, ML_CONFIG},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char err[512] = "", kid[SIGN_KID_MAX + 1] = "unset";
        EVP_PKEY *sentinel = (EVP_PKEY *)&err, *key = sentinel;
        write_file(f->key_path, cases[i].data, cases[i].len);
        ml_err rc = hq_key_load(f->data_dir, &key, kid, err, sizeof(err));
        if (rc != cases[i].want)
            fail_msg("%s: %s, want %s", cases[i].name, ml_strerror(rc), ml_strerror(cases[i].want));
        assert_ptr_equal(key, sentinel);
        assert_string_equal(kid, "unset");
        assert_non_null(strstr(err, f->key_path));
    }
    BIO_free(pub_bio);
    free(encrypted);
    free(foreign);
    free(good);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(ec);
}

/* A key file past SIGN_KEYFILE_MAX is not read whole: refused, nothing set. */
/* The key signs for every store: a key file others on the host can read is refused. */
static void load_refuses_a_key_file_readable_by_group_or_others(void **state)
{
    struct fx *f = *state;
    char line[HQ_PUBKEY_LINE_MAX];
    generate(f, "k1", 0, line);
    static const mode_t modes[] = {0640, 0604, 0644, 0660, 0666, 0610, 0601};
    for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
        assert_int_equal(chmod(f->key_path, modes[i]), 0);
        char err[512] = "", kid[SIGN_KID_MAX + 1] = "unset";
        EVP_PKEY *key = NULL;
        if (hq_key_load(f->data_dir, &key, kid, err, sizeof(err)) != ML_CONFIG)
            fail_msg("mode %03o accepted", (unsigned)modes[i]);
        assert_null(key);
        assert_string_equal(kid, "unset");
        assert_non_null(strstr(err, "chmod 600"));
    }
    assert_int_equal(chmod(f->key_path, 0400), 0);
    char kid[SIGN_KID_MAX + 1] = "";
    EVP_PKEY_free(load(f, kid));
    assert_string_equal(kid, "k1");
}

static void load_refuses_a_key_file_past_the_size_limit(void **state)
{
    struct fx *f = *state;
    char line[HQ_PUBKEY_LINE_MAX];
    generate(f, "k1", 0, line);
    size_t len = 0;
    char *good = read_file(f->key_path, &len);
    char *big = malloc(SIGN_KEYFILE_MAX + 1);
    assert_non_null(big);
    memset(big, '\n', SIGN_KEYFILE_MAX + 1);
    memcpy(big, good, len); /* a valid key followed by blank lines */
    write_file(f->key_path, big, SIGN_KEYFILE_MAX + 1);
    char err[512] = "", kid[SIGN_KID_MAX + 1] = "unset";
    EVP_PKEY *key = NULL;
    assert_int_not_equal(hq_key_load(f->data_dir, &key, kid, err, sizeof(err)), ML_OK);
    assert_null(key);
    assert_string_equal(kid, "unset");

    /* At the limit, the same key loads. */
    write_file(f->key_path, big, SIGN_KEYFILE_MAX);
    EVP_PKEY_free(load(f, kid));
    assert_string_equal(kid, "k1");
    free(big);
    free(good);
}

static void load_refuses_a_missing_or_damaged_kid_file(void **state)
{
    struct fx *f = *state;
    char line[HQ_PUBKEY_LINE_MAX];
    generate(f, "k1", 0, line);
    static const struct {
        const char *text; /* NULL: no kid file */
        ml_err want;
        const char *kid; /* when accepted */
    } cases[] = {
        {NULL, ML_NOENTRY, NULL},        {"", ML_CONFIG, NULL},
        {"\n", ML_CONFIG, NULL},         {"bad kid\n", ML_CONFIG, NULL},
        {KID_32 "4\n", ML_CONFIG, NULL}, {"k1\nk2\n", ML_CONFIG, NULL},
        {" k1\n", ML_CONFIG, NULL},      {"k1", ML_OK, "k1"},
        {"k1\r\n", ML_OK, "k1"},         {KID_32 "\n", ML_OK, KID_32},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char err[512] = "", kid[SIGN_KID_MAX + 1] = "unset";
        EVP_PKEY *key = NULL;
        (void)unlink(f->kid_path);
        if (cases[i].text != NULL)
            write_file(f->kid_path, cases[i].text, strlen(cases[i].text));
        ml_err rc = hq_key_load(f->data_dir, &key, kid, err, sizeof(err));
        if (rc != cases[i].want)
            fail_msg("kid file \"%s\": %s, want %s (%s)", cases[i].text ? cases[i].text : "(none)",
                     ml_strerror(rc), ml_strerror(cases[i].want), err);
        if (rc == ML_OK) {
            assert_non_null(key);
            assert_string_equal(kid, cases[i].kid);
            EVP_PKEY_free(key);
        } else {
            assert_null(key);
            assert_string_equal(kid, "unset");
            assert_non_null(strstr(err, f->kid_path));
        }
    }
}

static void pubkey_line_refuses_a_foreign_key_or_bad_kid(void **state)
{
    (void)state;
    char line[HQ_PUBKEY_LINE_MAX];
    EVP_PKEY *ec = EVP_EC_gen("P-256"), *ed = sign_key_generate();
    assert_int_equal(hq_key_pubkey_line(ec, "k1", line), ML_CONFIG);
    assert_int_equal(hq_key_pubkey_line(ed, "bad kid", line), ML_CONFIG);
    assert_int_equal(hq_key_pubkey_line(ed, "", line), ML_CONFIG);
    assert_int_equal(hq_key_pubkey_line(ed, KID_32, line), ML_OK);
    assert_int_equal(strlen(line), HQ_PUBKEY_LINE_MAX - 1); /* the longest line fits */
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
}

static void make_dirs_creates_every_level_and_accepts_existing_ones(void **state)
{
    struct fx *f = *state;
    char path[160], file[160];
    snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
    assert_int_equal(hq_make_dirs(path), 0);
    assert_int_equal(mode_of(path), 0750);
    assert_int_equal(hq_make_dirs(path), 0);

    snprintf(file, sizeof(file), "%s/plain", f->dir);
    write_file(file, "x", 1);
    snprintf(path, sizeof(path), "%s/plain/sub", f->dir);
    errno = 0;
    assert_int_equal(hq_make_dirs(path), -1);
    assert_int_equal(errno, ENOTDIR);

    char long_path[400];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    errno = 0;
    assert_int_equal(hq_make_dirs(long_path), -1);
    assert_int_equal(errno, ENAMETOOLONG);
}

int main(void)
{
    umask(022);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(generate_writes_a_private_key_and_kid_and_the_store_line),
        T(generate_replaces_an_existing_key_only_with_force),
        T(generate_refuses_a_bad_kid_before_writing_anything),
        T(load_without_a_key_is_noentry_and_sets_nothing),
        T(load_refuses_a_damaged_encrypted_or_foreign_key),
        T(load_refuses_a_key_file_readable_by_group_or_others),
        T(load_refuses_a_key_file_past_the_size_limit),
        T(load_refuses_a_missing_or_damaged_kid_file),
        T(pubkey_line_refuses_a_foreign_key_or_bad_kid),
        T(make_dirs_creates_every_level_and_accepts_existing_ones),
    };
#undef T
    return cmocka_run_group_tests_name("hq_key", tests, NULL, NULL);
}
