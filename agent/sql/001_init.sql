-- memberlink store schema, version 1.
-- Facts from HQ (members, guides, campaigns, coupons) enter only through agent/facts.c.
-- Ledger tables (sales, sale_lines, redemptions, points_ledger, commissions, outbox,
-- idempotency) are written only by agent/checkout.c inside one transaction per request.

CREATE TABLE members (
    member_id        TEXT PRIMARY KEY,
    phone_key        BLOB UNIQUE,           -- HMAC-SHA256(brand phone key, normalized number)
    phone_masked     TEXT NOT NULL DEFAULT '',
    tier             TEXT NOT NULL DEFAULT 'basic',
    plan             TEXT,                  -- paid membership plan (e.g. a VIP card)
    plan_until       INTEGER,               -- ms UTC
    points_confirmed INTEGER NOT NULL DEFAULT 0,
    points_version   INTEGER NOT NULL DEFAULT 0,
    guide_id         TEXT,                  -- bound ("exclusive") guide
    guide_until      INTEGER,               -- ms UTC
    guide_version    INTEGER NOT NULL DEFAULT 0, -- version of the binding fact
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
    version          INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE guides (
    guide_id TEXT PRIMARY KEY,
    name     TEXT NOT NULL DEFAULT '',
    store    TEXT,
    status   TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    version  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE campaigns (
    campaign_id TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER NOT NULL,
    doc         TEXT NOT NULL               -- the campaign JSON as HQ sent it
) WITHOUT ROWID;

CREATE TABLE coupons (
    coupon_id   TEXT PRIMARY KEY,
    member_id   TEXT,                       -- NULL: bearer coupon
    campaign_id TEXT,
    kind        TEXT NOT NULL CHECK (kind IN ('amount_off', 'percent_off')),
    value       INTEGER NOT NULL,           -- minor units, or basis points for percent_off
    max_off     INTEGER NOT NULL DEFAULT 0, -- cap for percent_off, 0 = none
    min_spend   INTEGER NOT NULL DEFAULT 0,
    categories  TEXT,                       -- JSON array; NULL = every category
    valid_from  INTEGER NOT NULL,
    valid_to    INTEGER NOT NULL,
    uses_total  INTEGER NOT NULL DEFAULT 1 CHECK (uses_total >= 1),
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0 AND uses_left <= uses_total),
    offline_ok  INTEGER NOT NULL DEFAULT 1,
    state       TEXT NOT NULL DEFAULT 'available'
                CHECK (state IN ('available', 'redeemed', 'revoked', 'expired')),
    version     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX coupons_member ON coupons (member_id);

CREATE TABLE sales (
    sale_id       TEXT PRIMARY KEY,
    terminal      TEXT NOT NULL,
    member_id     TEXT,
    guide_id      TEXT,
    guide_source  TEXT,                     -- 'explicit' | 'bound'
    subtotal      INTEGER NOT NULL,
    discount      INTEGER NOT NULL,         -- coupons
    points_value  INTEGER NOT NULL,         -- money paid with points
    total         INTEGER NOT NULL,
    points_earned INTEGER NOT NULL,
    points_spent  INTEGER NOT NULL,
    commission    INTEGER NOT NULL,
    refunded      INTEGER NOT NULL DEFAULT 0,  -- money refunded so far
    created_at    INTEGER NOT NULL,
    doc           TEXT NOT NULL             -- the sale as the API answered it
) WITHOUT ROWID;
CREATE INDEX sales_created ON sales (created_at);

CREATE TABLE sale_lines (
    sale_id        TEXT NOT NULL REFERENCES sales (sale_id),
    line_no        INTEGER NOT NULL,
    sku            TEXT NOT NULL,
    category       TEXT NOT NULL,
    qty            INTEGER NOT NULL,
    unit_price     INTEGER NOT NULL,
    gross          INTEGER NOT NULL,
    discount       INTEGER NOT NULL,
    points_value   INTEGER NOT NULL,
    net            INTEGER NOT NULL,
    points_earned  INTEGER NOT NULL,
    points_spent   INTEGER NOT NULL,
    commission_bp  INTEGER NOT NULL,
    commission     INTEGER NOT NULL,
    refund_id      TEXT,                    -- set once, when the line is refunded
    PRIMARY KEY (sale_id, line_no)
) WITHOUT ROWID;

CREATE TABLE redemptions (
    redemption_id INTEGER PRIMARY KEY,
    coupon_id  TEXT NOT NULL,
    use_no     INTEGER NOT NULL,            -- 1..uses_total
    sale_id    TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    lines      TEXT NOT NULL,               -- JSON array of the line numbers it discounted
    restored   INTEGER NOT NULL DEFAULT 0,  -- 1: given back by a refund
    created_at INTEGER NOT NULL
);
-- A use is held by at most one live redemption; a refund that restores the coupon frees it.
CREATE UNIQUE INDEX redemptions_live ON redemptions (coupon_id, use_no) WHERE restored = 0;
CREATE INDEX redemptions_sale ON redemptions (sale_id);

CREATE TABLE points_ledger (
    entry_id   INTEGER PRIMARY KEY,
    member_id  TEXT NOT NULL,
    sale_id    TEXT NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('earn', 'spend', 'refund')),
    delta      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    confirmed  INTEGER NOT NULL DEFAULT 0   -- set when HQ's balance includes it
);
-- Covers the pending-points sum read at every identify and checkout.
CREATE INDEX points_member ON points_ledger (member_id, confirmed, delta);

CREATE TABLE commissions (
    entry_id   INTEGER PRIMARY KEY,
    guide_id   TEXT NOT NULL,
    sale_id    TEXT NOT NULL,
    line_no    INTEGER NOT NULL,
    amount     INTEGER NOT NULL,            -- negative for a refund reversal
    rate_bp    INTEGER NOT NULL,
    day        TEXT NOT NULL,               -- YYYY-MM-DD, the terminal's local calendar day
    created_at INTEGER NOT NULL
);
CREATE INDEX commissions_guide ON commissions (guide_id, day);

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY,         -- per terminal, gapless
    event_id   TEXT NOT NULL UNIQUE,        -- UUIDv7
    type       TEXT NOT NULL,
    hlc        TEXT NOT NULL,
    at         INTEGER NOT NULL,
    payload    TEXT NOT NULL,               -- the full envelope JSON
    attempts   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE inbox_applied (
    message_id TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    applied_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE idempotency (
    idem_key     TEXT PRIMARY KEY,
    request_hash BLOB NOT NULL,             -- SHA-256 of method, path and body
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
