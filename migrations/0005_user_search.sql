-- User search at scale (measured with BenchmarkUserList1M, auth/scale_bench_test.go).

-- 1. The planner has no statistics for lower(nickname): the only index on it
--    is partial, and the planner ignores partial indexes' expression stats, so
--    every nickname LIKE is guessed at 0.5% of the tenant (5,000 of 1M) and
--    the OR of four prefixes always looks dense enough to walk the id index.
--    Extended statistics on the expression fix the estimate; they must be on
--    each partition, because the planner reads the pruned partition's stats.
DO $$
BEGIN
    FOR i IN 0..15 LOOP
        EXECUTE format('CREATE STATISTICS %I ON (lower(nickname)) FROM %I',
                       format('users_p%s_lower_nickname', to_char(i, 'FM00')), format('users_p%s', to_char(i, 'FM00')));
        EXECUTE format('ALTER STATISTICS %I SET STATISTICS 1000', format('users_p%s_lower_nickname', to_char(i, 'FM00')));
    END LOOP;
END
$$;
-- 2. A LIKE prefix is estimated from the fraction of histogram entries it
--    matches; with the default 101 entries one hit reads as 1% of the tenant
--    (10,000 rows for a 3-character openid prefix with ~250 matches), enough
--    to pick the id walk and scan 200k rows. 1,000 entries make one hit 0.1%.
ALTER TABLE users ALTER COLUMN openid SET STATISTICS 1000,
                  ALTER COLUMN unionid SET STATISTICS 1000,
                  ALTER COLUMN phone SET STATISTICS 1000;
-- 3. Disabled users are ~2%: status=disabled combined with a search walks
--    the id index through 50 non-matching rows per match. A small partial
--    index gives the disabled users in id order.
CREATE INDEX users_disabled ON users (tenant_id, id) WHERE status = 'disabled';

-- Search reads each field's matches from its prefix index alone (index-only
-- scan) and sorts only their ids: the ids must be in the index. An index-only
-- scan of an expression index also needs the expression's column itself.
DROP INDEX users_openid_prefix, users_unionid_prefix, users_nickname_prefix, users_phone_prefix;
CREATE INDEX users_openid_prefix ON users (tenant_id, openid text_pattern_ops) INCLUDE (id);
CREATE INDEX users_unionid_prefix ON users (tenant_id, unionid text_pattern_ops) INCLUDE (id) WHERE unionid IS NOT NULL;
CREATE INDEX users_nickname_prefix ON users (tenant_id, lower(nickname) text_pattern_ops) INCLUDE (id, nickname) WHERE nickname IS NOT NULL;
CREATE INDEX users_phone_prefix ON users (tenant_id, phone text_pattern_ops) INCLUDE (id) WHERE phone IS NOT NULL;
-- The new statistics take effect at the next ANALYZE; do not wait for autovacuum.
ANALYZE users;
