/*
 * print: what `memberlink` writes on stdout. The server's JSON re-indented (--json), or
 * compact text per answer: money in yuan, times in local time, durations, tables. Every
 * string from the server is stripped of control characters before it reaches the
 * terminal; a field that is missing or of the wrong type prints as "-" (or 0 for counts),
 * never fails. All functions borrow their arguments; the print_ functions of an answer
 * write to stdout and report nothing: a failed write shows at the caller's fflush(stdout).
 */
#ifndef ML_CLI_PRINT_H
#define ML_CLI_PRINT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Prints JSON text re-indented by two spaces, token by token, so that every number and
 * string is exactly the server's, and a newline. Precondition: text[0..len) is valid JSON.
 */
void print_json_pretty(FILE *out, const char *text, size_t len);

/* Copies s into buf (len > 0 bytes, truncating) with control characters replaced by '?';
 * NULL becomes "-". Returns buf. */
const char *print_clean(const char *s, char *buf, size_t len);

/* The answers, as the API returns them (docs/api.md). */
void print_identify(const cJSON *m);    /* POST /v1/identify: a member, guide card or coupon */
void print_sale(const cJSON *s);        /* POST /v1/checkout, GET /v1/sales/{id} */
void print_refund(const cJSON *r);      /* POST /v1/sales/{id}/refund */
void print_sales(const cJSON *list);    /* GET /v1/sales */
void print_commissions(const cJSON *g); /* GET /v1/guides/{id}/commissions */
void print_status(const cJSON *st);     /* GET /v1/status */

#endif
