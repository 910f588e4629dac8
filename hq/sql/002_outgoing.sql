-- memberlink-hq schema, version 2: signed messages to stores, per-store ones by gapless
-- cursor and the current message of each campaign (hq_outgoing.c).

CREATE TABLE outgoing (
  store TEXT NOT NULL,
  cursor INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  entity TEXT NOT NULL,
  version INTEGER NOT NULL,
  topic TEXT NOT NULL,
  text TEXT NOT NULL,
  issued INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  published_at INTEGER,
  UNIQUE (store, cursor)
);
CREATE INDEX outgoing_entity ON outgoing(entity, store, version);
CREATE TABLE outgoing_campaigns (
  campaign_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  id TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  text TEXT NOT NULL,
  issued INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  published_at INTEGER
);
