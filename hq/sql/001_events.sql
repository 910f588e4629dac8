-- memberlink-hq schema, version 1: events, per-terminal sequence tracking, the derived
-- report tables (hq_store.c) and rejections.

CREATE TABLE events (
  id TEXT PRIMARY KEY,
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  hlc TEXT NOT NULL,
  at INTEGER NOT NULL,
  body TEXT NOT NULL,
  batch TEXT,
  received_at INTEGER NOT NULL
);
CREATE INDEX events_terminal_seq ON events(store, terminal, seq);
CREATE TABLE terminals (
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  next_seq INTEGER NOT NULL DEFAULT 1,
  max_seq INTEGER NOT NULL DEFAULT 0,
  received INTEGER NOT NULL DEFAULT 0,
  gaps INTEGER NOT NULL DEFAULT 0,
  first_received_at INTEGER NOT NULL,
  last_received_at INTEGER NOT NULL,
  PRIMARY KEY (store, terminal)
);
CREATE TABLE sales (
  sale_id TEXT PRIMARY KEY,
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  day TEXT NOT NULL,
  at INTEGER NOT NULL,
  member_id TEXT,
  guide_id TEXT,
  total INTEGER NOT NULL,
  commission INTEGER NOT NULL,
  refunded INTEGER NOT NULL DEFAULT 0,
  event_id TEXT NOT NULL
);
CREATE INDEX sales_day ON sales(day, store);
CREATE TABLE refunds (
  event_id TEXT PRIMARY KEY,
  refund_id TEXT NOT NULL,
  sale_id TEXT NOT NULL,
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  amount INTEGER NOT NULL,
  day TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX refunds_sale ON refunds(sale_id);
CREATE TABLE commission_entries (
  event_id TEXT PRIMARY KEY,
  guide_id TEXT NOT NULL,
  sale_id TEXT NOT NULL,
  refund_id TEXT,
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  amount INTEGER NOT NULL,
  day TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX commission_entries_day ON commission_entries(day, guide_id);
CREATE TABLE redemptions (
  event_id TEXT PRIMARY KEY,
  coupon_id TEXT NOT NULL,
  sale_id TEXT NOT NULL,
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  use_no INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  at INTEGER NOT NULL,
  day TEXT NOT NULL,
  restored_at INTEGER
);
CREATE INDEX redemptions_coupon ON redemptions(coupon_id, use_no);
CREATE INDEX redemptions_day ON redemptions(day);
CREATE TABLE rejections (
  store TEXT NOT NULL,
  terminal TEXT NOT NULL,
  reason TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_event_id TEXT,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (store, terminal, reason)
);
