-- WeChat depth: unionid linking, scan to sign in on the web.
--
-- unionid_group: tenants bound to one WeChat Open Platform account share a
-- group name, set by a platform admin; a unionid is one person across the
-- group's tenants. tenants_unionid_group serves "the tenants of my group"
-- (GET /api/v1/unionids/{unionid}, and /me for a tenant that shows its
-- linked tenants).
-- show_linked_tenants: the tenant opts in to /me listing the person's users
-- in the other tenants of its group.
-- qr_login_page: the mini-program page a scan-to-sign-in code opens; '' is
-- the mini-program's home page.
ALTER TABLE tenants
    ADD COLUMN unionid_group       text CHECK (unionid_group <> '' AND octet_length(unionid_group) <= 64),
    ADD COLUMN show_linked_tenants boolean NOT NULL DEFAULT false,
    ADD COLUMN qr_login_page       text    NOT NULL DEFAULT '' CHECK (octet_length(qr_login_page) <= 128);
CREATE INDEX tenants_unionid_group ON tenants (unionid_group) WHERE unionid_group IS NOT NULL;

-- Two users of one tenant never share a unionid: WeChat gives one person one
-- unionid and one openid per app, so a second user with the same unionid is
-- an upstream answer to refuse, not a row to write. The index also serves
-- the lookup of a unionid inside each tenant of a group (tenant_id is the
-- partition key, so each partition holds its own part of the index).
CREATE UNIQUE INDEX users_tenant_unionid ON users (tenant_id, unionid) WHERE unionid IS NOT NULL;

-- client: which kind of client a session was issued to. 'web' sessions come
-- from scan to sign in on the web; everything else is the mini-program.
ALTER TABLE sessions
    ADD COLUMN client text NOT NULL DEFAULT 'miniprogram' CHECK (client IN ('miniprogram', 'web'));
