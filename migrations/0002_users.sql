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

DO $$
BEGIN
    FOR i IN 0..15 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF users FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                       'users_p' || to_char(i, 'FM00'), i);
    END LOOP;
END
$$;

-- User search (auth.Service.ListUsers): prefix matches on openid, unionid,
-- nickname and phone, measured at scale with BenchmarkUserList1M
-- (auth/scale_bench_test.go).
--
-- Search reads each field's matches from its prefix index alone (index-only
-- scan) and sorts only their ids: the ids must be in the index. An index-only
-- scan of an expression index also needs the expression's column itself.
-- text_pattern_ops also serves equality, so unionid needs no second index.
CREATE INDEX users_openid_prefix ON users (tenant_id, openid text_pattern_ops) INCLUDE (id);
CREATE INDEX users_unionid_prefix ON users (tenant_id, unionid text_pattern_ops) INCLUDE (id) WHERE unionid IS NOT NULL;
CREATE INDEX users_nickname_prefix ON users (tenant_id, lower(nickname) text_pattern_ops) INCLUDE (id, nickname) WHERE nickname IS NOT NULL;
CREATE INDEX users_phone_prefix ON users (tenant_id, phone text_pattern_ops) INCLUDE (id) WHERE phone IS NOT NULL;

-- Disabled users are ~2%: status=disabled combined with a search walks
-- the id index through 50 non-matching rows per match. A small partial
-- index gives the disabled users in id order.
CREATE INDEX users_disabled ON users (tenant_id, id) WHERE status = 'disabled';

-- The planner has no statistics for lower(nickname): the only index on it
-- is partial, and the planner ignores partial indexes' expression stats, so
-- every nickname LIKE is guessed at 0.5% of the tenant (5,000 of 1M) and
-- the OR of four prefixes always looks dense enough to walk the id index.
-- Extended statistics on the expression fix the estimate; they must be on
-- each partition, because the planner reads the pruned partition's stats.
DO $$
DECLARE
    part text;
BEGIN
    FOR i IN 0..15 LOOP
        part := 'users_p' || to_char(i, 'FM00');
        EXECUTE format('CREATE STATISTICS %I ON (lower(nickname)) FROM %I', part || '_lower_nickname', part);
        EXECUTE format('ALTER STATISTICS %I SET STATISTICS 1000', part || '_lower_nickname');
    END LOOP;
END
$$;

-- A LIKE prefix is estimated from the fraction of histogram entries it
-- matches; with the default 101 entries one hit reads as 1% of the tenant
-- (10,000 rows for a 3-character openid prefix with ~250 matches), enough
-- to pick the id walk and scan 200k rows. 1,000 entries make one hit 0.1%.
-- (After the partitions: ALTER TABLE sets it on the partitions that exist.)
ALTER TABLE users ALTER COLUMN openid SET STATISTICS 1000,
                  ALTER COLUMN unionid SET STATISTICS 1000,
                  ALTER COLUMN phone SET STATISTICS 1000;

-- Start with statistics. Until autovacuum first analyses a partition the
-- planner guesses its size, and for a new, never-analysed table that guess
-- made the primary-key read of GET /me about 50 us slower
-- (BenchmarkAuthenticatedMe in cmd/miniauth); autovacuum never analyses the
-- partitioned parent at all.
ANALYZE users;
