-- Who may use the management API, and to do what.

-- Management API keys, stored only as SHA-256 hashes. Each carries its one
-- role binding in role/tenant_id.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL CONSTRAINT api_keys_role CHECK (role IN ('platform_admin', 'tenant_admin', 'tenant_operator', 'tenant_viewer')),
    tenant_id    bigint      REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash     bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

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
