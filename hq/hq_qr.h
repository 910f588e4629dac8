/*
 * hq_qr: the QR commands of memberlink-hq (docs/hq.md; the codes are in docs/qr.md):
 *
 *   enroll --member ID [--days N] --wallet FILE
 *                     a member credential bound to a fresh device key, written to a wallet
 *                     file as the member app would hold them
 *   member-qr --wallet FILE [--time UNIX] [--png FILE]
 *                     the next counter, a fresh display proof: prints the ML1: text
 *   guide-card --guide ID [--days N] [--png FILE]      prints the MLG1: text
 *   coupon-code --coupon ID [--days N] [--png FILE]    prints the MLC1: text
 *
 * Credentials are signed with HQ's signing key (hq_key.h) from [hq] data_dir; member-qr
 * needs only the wallet. --png writes the text as a QR code (alphanumeric mode, ECC level
 * M) in a grayscale PNG.
 *
 * Exit status: 0 success, 1 runtime error (I/O, OpenSSL), 2 usage, configuration or
 * refused input (no key, a damaged wallet). Functions below return errors with one line
 * in errbuf and print nothing.
 */
#ifndef ML_HQ_QR_H
#define ML_HQ_QR_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "ml_err.h"
#include "qr.h"

#define HQ_QR_WALLET_MAX 16384 /* bytes of a wallet file read at most */
#define HQ_QR_DAYS_MAX 3650    /* --days: 1..3650 */
#define HQ_QR_DAYS_MEMBER 365  /* --days defaults */
#define HQ_QR_DAYS_GUIDE 365
#define HQ_QR_DAYS_COUPON 30
#define HQ_QR_PNG_SCALE 6  /* pixels per module */
#define HQ_QR_PNG_BORDER 4 /* quiet zone, in modules */

/* 1 if `cmd` is one of the commands above. */
int hq_qr_handles(const char *cmd);

/* Runs the whole command line (global options -c FILE, -v and -h included); returns the
 * exit status. */
int hq_qr_main(int argc, char **argv);

/*
 * Writes a wallet for the member credential in cred (qr_issue(), no proof needed) and its
 * device private key: JSON {"v":1,"member_id","not_after","credential" (hex),
 * "device_key" (PEM PKCS#8),"counter":0}, mode 0600, replacing path atomically through
 * path + ".tmp". ML_CONFIG when cred is not a member credential or device not its key;
 * ML_FAILURE on I/O errors (path is then as it was). Borrows everything.
 */
ml_err hq_qr_wallet_write(const char *path, const struct qr_code *cred, EVP_PKEY *device,
                          uint32_t counter, char *errbuf, size_t errlen);

/*
 * Loads the wallet at path, takes its next counter and stores it (the file is replaced
 * before anything is signed, so a counter is never shown twice), then writes the member
 * code for `time` into text. ML_NOENTRY when there is no file; ML_CONFIG for a wallet that
 * does not hold a member credential and its device key, or whose counter is used up;
 * ML_LIMIT when the file is larger than HQ_QR_WALLET_MAX; ML_FAILURE on I/O or OpenSSL
 * errors. *ret_counter (may be NULL) is the counter used.
 */
ml_err hq_qr_wallet_show(const char *path, uint32_t time, char text[QR_TEXT_MAX + 1],
                         uint32_t *ret_counter, char *errbuf, size_t errlen);

/*
 * Writes text as a QR code (libqrencode, alphanumeric mode, ECC level M, the smallest
 * version that holds it) to path as an 8-bit grayscale PNG: HQ_QR_PNG_SCALE pixels a
 * module, a HQ_QR_PNG_BORDER-module quiet zone; mode 0644, atomically like the wallet.
 * ML_PARSE when text holds a character outside the QR alphanumeric set; ML_FAILURE on
 * I/O, libqrencode or zlib errors.
 */
ml_err hq_qr_png_write(const char *text, const char *path, char *errbuf, size_t errlen);

#endif
