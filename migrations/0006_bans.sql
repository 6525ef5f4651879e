-- Bans. A ban targets exactly one user id, openid (possibly never seen yet)
-- or IP address/CIDR. tenant_id NULL is a platform-wide IP ban. A ban with
-- expires_at in the past no longer applies; nothing has to delete it.
CREATE TABLE bans (
    id         uuid        PRIMARY KEY,
    tenant_id  bigint      REFERENCES tenants (id) ON DELETE CASCADE,
    kind       text        NOT NULL CHECK (kind IN ('user', 'openid', 'ip')),
    target     text        NOT NULL,
    reason     text        NOT NULL,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text        NOT NULL,
    CHECK (tenant_id IS NOT NULL OR kind = 'ip')
);
CREATE INDEX bans_tenant ON bans (tenant_id, id DESC);
CREATE INDEX bans_platform ON bans (id DESC) WHERE tenant_id IS NULL;
CREATE INDEX bans_expires ON bans (expires_at) WHERE expires_at IS NOT NULL;
