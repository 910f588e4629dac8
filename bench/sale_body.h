/*
 * sale_body: the event body the benchmarks send, a typical sale.completed (one member, two
 * lines, a coupon, points, a bound guide's commission): about 1 KB. A printf format whose
 * one argument (a long) numbers the sale, so every event is a distinct sale at HQ.
 */
#ifndef ML_BENCH_SALE_BODY_H
#define ML_BENCH_SALE_BODY_H

#define SALE_BODY_FMT                                                                              \
    "{\"sale_id\":\"S001-T01-%07ld\",\"dry_run\":false,\"store\":\"S001\",\"terminal\":\"T01\","   \
    "\"created_at\":1795555627370,\"member\":{\"member_id\":\"M1001\",\"tier\":\"gold\","          \
    "\"points_available\":2981},\"guide\":{\"guide_id\":\"G01\",\"source\":\"bound\"},\"lines\":[" \
    "{\"line_no\":1,\"sku\":\"TS-01\",\"category\":\"apparel\",\"qty\":2,\"unit_price\":5990,"     \
    "\"gross\":11980,\"discount\":2000,\"points_value\":100,\"net\":9880,\"points_earned\":296,"   \
    "\"points_spent\":100,\"commission_bp\":500,\"commission\":494},{\"line_no\":2,\"sku\":\"SH-"  \
    "9\","                                                                                         \
    "\"category\":\"shoes\",\"qty\":1,\"unit_price\":39900,\"gross\":39900,\"discount\":0,"        \
    "\"points_value\":400,\"net\":39500,\"points_earned\":1185,\"points_spent\":400,"              \
    "\"commission_bp\":300,\"commission\":1185}],\"discounts\":[{\"coupon_id\":\"CPN-20OFF\","     \
    "\"kind\":\"amount_off\",\"amount\":2000,\"lines\":[1]}],\"subtotal\":51880,\"discount\":"     \
    "2000,"                                                                                        \
    "\"points\":{\"requested\":500,\"spent\":500,\"value\":500,\"capped_by\":null,\"earned\":"     \
    "1481,"                                                                                        \
    "\"campaign_id\":\"points-2026\"},\"total\":49380,\"commission\":{\"guide_id\":\"G01\","       \
    "\"amount\":1679,\"campaign_id\":\"guide-commission\"}}"

#endif
