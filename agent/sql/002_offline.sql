-- memberlink store schema, version 2: offline credentials, deny-list, settlements and
-- offline risk (docs/qr.md, docs/operations.md "Offline risk").

-- Deny entries from HQ (signed deny.upsert) and from store peers (their coupon.redeemed
-- events on the store broker); agent/deny.c is the only writer. Identification and checkout
-- refuse a denied subject. A lifted entry is kept (lifted = 1) so an older version cannot
-- bring it back; a peer entry keeps the HQ version it replaced for the same reason.
CREATE TABLE deny_list (
    subject    TEXT NOT NULL CHECK (subject IN ('member', 'coupon')),
    subject_id TEXT NOT NULL,
    reason     TEXT NOT NULL,               -- blocked | revoked | redeemed_elsewhere | ...
    source     TEXT NOT NULL,               -- 'hq' or 'peer:<terminal>'
    version    INTEGER NOT NULL,            -- newest HQ version seen for the subject; 0: none
    lifted     INTEGER NOT NULL DEFAULT 0,
    peer_at    INTEGER,                     -- peer entries: when the peer redeemed (ms)
    PRIMARY KEY (subject, subject_id)
) WITHOUT ROWID;

-- Settlement notices from HQ: a redemption of this store lost a cross-store conflict.
CREATE TABLE settlements (
    notice_id  TEXT PRIMARY KEY,
    coupon_id  TEXT NOT NULL,
    sale_id    TEXT,
    amount     INTEGER NOT NULL DEFAULT 0,  -- the overage HQ booked
    doc        TEXT NOT NULL,               -- the notice body as HQ sent it
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Redemptions made without recent HQ contact count against the offline caps (agent/risk.c):
-- offline = 1, and trusted_at is the terminal's trusted time (HQ time plus the monotonic
-- clock) when it had one, which the per-day and since-contact counters read.
ALTER TABLE redemptions ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;
ALTER TABLE redemptions ADD COLUMN trusted_at INTEGER;
CREATE INDEX redemptions_offline ON redemptions (trusted_at) WHERE offline = 1 AND restored = 0;
CREATE INDEX sales_member ON sales (member_id, created_at);

-- Member QR display proofs already seen: (member, proof time, counter), kept for twice
-- the time window so a screenshot cannot be shown twice.
CREATE TABLE qr_replay (
    member_id  TEXT NOT NULL,
    proof_time INTEGER NOT NULL,            -- unix seconds, from the proof
    counter    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,            -- ms, trusted time
    PRIMARY KEY (member_id, proof_time, counter)
) WITHOUT ROWID;
CREATE INDEX qr_replay_expiry ON qr_replay (expires_at);
