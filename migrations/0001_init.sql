-- Tenants: one WeChat mini-program each. The AppSecret is sealed with the
-- master key (see tenant.Sealer); the slug is the public identifier.
CREATE TABLE tenants (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                 text        NOT NULL UNIQUE,
    name                 text        NOT NULL,
    status               text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    wechat_appid         text        NOT NULL,
    wechat_secret_sealed bytea       NOT NULL,
    signing_alg          text        NOT NULL DEFAULT 'ES256' CHECK (signing_alg IN ('ES256', 'EdDSA')),
    access_ttl_seconds   integer     NOT NULL DEFAULT 900 CHECK (access_ttl_seconds BETWEEN 60 AND 86400),
    refresh_ttl_seconds  integer     NOT NULL DEFAULT 2592000 CHECK (refresh_ttl_seconds BETWEEN 300 AND 31536000),
    rate_limits          jsonb       NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Signing keys: exactly one active key per tenant; retiring keys stay in the
-- JWKS until retire_at, when the last token they signed has expired.
CREATE TABLE signing_keys (
    tenant_id          bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kid                text        NOT NULL,
    alg                text        NOT NULL CHECK (alg IN ('ES256', 'EdDSA')),
    status             text        NOT NULL CHECK (status IN ('active', 'retiring', 'retired')),
    public_key         bytea       NOT NULL,
    private_key_sealed bytea       NOT NULL,
    -- The longest access-token TTL the tenant had while this key was active:
    -- a retiring key stays published that long after rotation.
    max_access_ttl_seconds integer NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    retire_at          timestamptz,
    PRIMARY KEY (tenant_id, kid)
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (tenant_id) WHERE status = 'active';

-- Users are hash-partitioned by tenant: a fixed set of partitions serves any
-- number of tenants without DDL at tenant creation, keeps each partition's
-- indexes small, and every query names tenant_id so it prunes to one
-- partition. (LIST-per-tenant would mean 5,000+ partitions, slower planning
-- and a CREATE TABLE inside every tenant creation.)
CREATE TABLE users (
    tenant_id          bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 uuid        NOT NULL,
    openid             text        NOT NULL,
    unionid            text,
    nickname           text,
    avatar_url         text,
    phone              text,
    status             text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    session_key_sealed bytea,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    last_login_at      timestamptz,
    last_login_ip      inet,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, openid)
) PARTITION BY HASH (tenant_id);

CREATE TABLE users_p00 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE users_p01 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE users_p02 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE users_p03 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE users_p04 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE users_p05 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE users_p06 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE users_p07 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE users_p08 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE users_p09 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE users_p10 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE users_p11 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE users_p12 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE users_p13 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE users_p14 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE users_p15 PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER 15);

CREATE INDEX users_unionid ON users (tenant_id, unionid) WHERE unionid IS NOT NULL;

-- Sessions: one per login. Access tokens carry the session id (sid) and are
-- refused once revoked_at is set.
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

-- Refresh tokens are stored only as SHA-256 hashes. A token is single use:
-- rotated_at marks it spent, and presenting a spent token revokes its session.
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

-- Management API keys, stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL,
    tenant_id    bigint      REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash     bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
