-- Console admin accounts. Passwords are argon2id hashes in PHC format.
CREATE TABLE admins (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX admins_email ON admins (lower(email));

-- Role bindings of admin accounts: at most one role per admin per tenant,
-- and tenant_id NULL for platform_admin. (API keys carry their one binding
-- in api_keys.role/tenant_id.) Both feed the Casbin policy as g rules.
CREATE TABLE admin_roles (
    admin_id   uuid        NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'tenant_operator', 'tenant_viewer')),
    tenant_id  bigint      REFERENCES tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX admin_roles_one_per_tenant ON admin_roles (admin_id, COALESCE(tenant_id, 0));

ALTER TABLE api_keys ADD CONSTRAINT api_keys_role CHECK (role IN ('platform_admin', 'tenant_admin', 'tenant_operator', 'tenant_viewer'));

-- Casbin permission rules (p): what each role may do. Role bindings (g) are
-- derived from api_keys and admin_roles when the policy loads.
CREATE TABLE casbin_rule (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ptype text NOT NULL,
    v0    text NOT NULL DEFAULT '',
    v1    text NOT NULL DEFAULT '',
    v2    text NOT NULL DEFAULT '',
    v3    text NOT NULL DEFAULT '',
    v4    text NOT NULL DEFAULT '',
    v5    text NOT NULL DEFAULT '',
    UNIQUE (ptype, v0, v1, v2, v3, v4, v5)
);
INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES
    ('p', 'platform_admin',  '*',        '*'),
    ('p', 'tenant_admin',    'tenants',  'read'),
    ('p', 'tenant_admin',    'tenants',  'write'),
    ('p', 'tenant_admin',    'keys',     'read'),
    ('p', 'tenant_admin',    'keys',     'write'),
    ('p', 'tenant_admin',    'users',    'read'),
    ('p', 'tenant_admin',    'users',    'write'),
    ('p', 'tenant_admin',    'sessions', 'write'),
    ('p', 'tenant_admin',    'bans',     'read'),
    ('p', 'tenant_admin',    'bans',     'write'),
    ('p', 'tenant_admin',    'apikeys',  'read'),
    ('p', 'tenant_admin',    'apikeys',  'write'),
    ('p', 'tenant_admin',    'audit',    'read'),
    ('p', 'tenant_operator', 'tenants',  'read'),
    ('p', 'tenant_operator', 'keys',     'read'),
    ('p', 'tenant_operator', 'users',    'read'),
    ('p', 'tenant_operator', 'users',    'write'),
    ('p', 'tenant_operator', 'sessions', 'write'),
    ('p', 'tenant_operator', 'bans',     'read'),
    ('p', 'tenant_operator', 'bans',     'write'),
    ('p', 'tenant_operator', 'audit',    'read'),
    ('p', 'tenant_viewer',   'tenants',  'read'),
    ('p', 'tenant_viewer',   'keys',     'read'),
    ('p', 'tenant_viewer',   'users',    'read'),
    ('p', 'tenant_viewer',   'bans',     'read'),
    ('p', 'tenant_viewer',   'audit',    'read');

-- The audit log: every change made through the API, the console or the CLI.
-- tenant_id has no foreign key: the history outlives a deleted tenant.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_type  text        NOT NULL CHECK (actor_type IN ('apikey', 'admin', 'cli', 'system')),
    actor_id    text        NOT NULL DEFAULT '',
    actor_name  text        NOT NULL DEFAULT '',
    actor_role  text        NOT NULL DEFAULT '',
    action      text        NOT NULL,
    tenant_id   bigint,
    tenant_slug text,
    target_type text        NOT NULL DEFAULT '',
    target_id   text        NOT NULL DEFAULT '',
    ip          inet,
    request_id  text        NOT NULL DEFAULT '',
    diff        jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id DESC);
CREATE INDEX audit_log_action ON audit_log (action, id DESC);
CREATE INDEX audit_log_at ON audit_log (at);

-- Append-only, whatever role the application connects as.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- User search: prefix matches on openid, unionid, nickname and phone.
CREATE INDEX users_openid_prefix ON users (tenant_id, openid text_pattern_ops);
CREATE INDEX users_unionid_prefix ON users (tenant_id, unionid text_pattern_ops) WHERE unionid IS NOT NULL;
CREATE INDEX users_nickname_prefix ON users (tenant_id, lower(nickname) text_pattern_ops) WHERE nickname IS NOT NULL;
CREATE INDEX users_phone_prefix ON users (tenant_id, phone text_pattern_ops) WHERE phone IS NOT NULL;
DROP INDEX users_unionid;
