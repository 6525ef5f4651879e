-- Tenants: one WeChat mini-program each. The AppSecret is sealed with the
-- master key (see tenant/seal); the slug is the public identifier.
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
