-- memberlink-hq schema, version 3: settlement of coupons redeemed twice offline
-- (hq_settle.c; the trusted time of a redemption is hq_store.c's).

ALTER TABLE redemptions ADD COLUMN trusted_at INTEGER;
CREATE TABLE coupon_terms (
  coupon_id TEXT PRIMARY KEY,
  campaign_id TEXT,
  uses INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE conflicts (
  event_id TEXT PRIMARY KEY,
  coupon_id TEXT NOT NULL,
  campaign_id TEXT,
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  sale_id TEXT NOT NULL,
  amount INTEGER NOT NULL,
  at INTEGER NOT NULL,
  winner_event_id TEXT NOT NULL,
  winner_store TEXT NOT NULL,
  winner_terminal TEXT NOT NULL,
  winner_sale_id TEXT NOT NULL,
  winner_at INTEGER NOT NULL,
  day TEXT NOT NULL,
  notice_id TEXT,
  detected_at INTEGER NOT NULL
);
CREATE INDEX conflicts_day ON conflicts(day);
