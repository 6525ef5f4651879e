-- Sessions: one per login. Access tokens carry the session id (sid) and are
-- refused once revoked_at is set.
--
-- Indexes, by the queries of auth/sessions.go and auth/bans.go:
-- - the primary key: Revoke and Active find the session by id (tenant_id
--   and user_id are checked on that one row), as does rotate's join;
-- - sessions_user: RevokeUser (tenant_id, user_id), and the cascade when a
--   user is erased;
-- - sessions_expires, sessions_revoked: Prune, which deletes sessions that
--   expired or were revoked more than a day ago;
-- - sessions_live_ip: revoking the sessions an IP ban covers (tenant_id, and
--   ip <<= the banned address or range, which the planner turns into an ip
--   range on a btree). Automatic bans run it once per abusive address while
--   under attack, so it must not read every session of the tenant. Only
--   sessions not yet revoked are indexed, the only ones the query touches.
--   A platform-wide ban (no tenant) reads the whole index; those are rare
--   and made by hand.
CREATE TABLE sessions (
    id            uuid        PRIMARY KEY,
    tenant_id     bigint      NOT NULL,
    user_id       uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    refreshed_at  timestamptz,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text,
    ip            inet,
    user_agent    text,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_live_ip ON sessions (tenant_id, ip) WHERE revoked_at IS NULL;

-- Refresh tokens are stored only as SHA-256 hashes. A token is single use:
-- rotated_at marks it spent, and presenting a spent token revokes its session.
--
-- rotate looks a token up by its hash, the primary key (tenant_id is checked
-- on that one row). refresh_tokens_session serves the cascade when Prune
-- deletes sessions, thousands per batch; refresh_tokens_expires serves Prune
-- itself.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY,
    tenant_id  bigint      NOT NULL,
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
