-- Web console sign-in sessions. The browser holds a random token in a
-- cookie; only its SHA-256 is stored, so a copy of this table signs nobody
-- in. A session ends at sign-out, when its admin's password, roles or
-- status change or the admin is deleted, after 30 minutes without a
-- request (last_seen_at), or at expires_at, whichever comes first.
CREATE TABLE admin_sessions (
    id           uuid        PRIMARY KEY,
    admin_id     uuid        NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    token_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Written at most once a minute per session, not on every request, so
    -- an idle decision may be up to a minute late.
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- The absolute end, however active the session stays.
    expires_at   timestamptz NOT NULL,
    ip           inet,
    -- Client-supplied: capped so a request cannot store an arbitrary blob.
    user_agent   text        NOT NULL DEFAULT '' CHECK (octet_length(user_agent) <= 512),
    ended_at     timestamptz
);
-- Ending every session of an admin (sign out everywhere, a password
-- change) and listing them only ever look at the live ones.
CREATE INDEX admin_sessions_live ON admin_sessions (admin_id) WHERE ended_at IS NULL;
