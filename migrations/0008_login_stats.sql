-- Login statistics for the console's dashboard (auth.Stats). Each instance
-- counts in memory and adds its counts here every few seconds in one
-- batch, so the login path never writes a row of its own.
--
-- Hourly buckets: an hour is the finest grain the dashboard shows, and a
-- tenant's day is at most 24 rows per metric. "Today" in the console's zone
-- is a sum of whole buckets, exact in every zone with whole-hour offsets.
--
-- A deleted tenant's figures go with it (CASCADE), as its users and
-- sessions do: nothing could show them once the tenant is gone, and its
-- id is never reused. The platform's totals keep them (login_stats_platform).
CREATE TABLE login_stats (
    tenant_id bigint      NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The bucket's start, truncated in UTC so that a session's TimeZone
    -- cannot shift it.
    hour      timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
    -- auth.StatLogin, auth.StatNewUser, ..., or 'failure:' || problem code.
    metric    text        NOT NULL CHECK (metric <> '' AND octet_length(metric) <= 64),
    n         bigint      NOT NULL,
    PRIMARY KEY (tenant_id, hour, metric)
);

-- The same counts summed over every tenant, written by the same flush. The
-- platform dashboard reads ~50 rows here instead of summing one row per
-- active tenant, hour and metric (hundreds of thousands with thousands of
-- tenants), which no index on login_stats makes fast.
CREATE TABLE login_stats_platform (
    hour   timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
    metric text        NOT NULL CHECK (metric <> '' AND octet_length(metric) <= 64),
    n      bigint      NOT NULL,
    PRIMARY KEY (hour, metric)
);

-- Users per tenant, for the dashboard: count(*) over a tenant of 1,000,000
-- users is an index-only scan of ~120 ms even with every page cached, over
-- the dashboard's whole budget. The flush adds new users, erasing a user
-- subtracts one in the same statement (auth.Users.Erase), and
-- auth.Stats.Recount replaces n with an exact count about once a day, which
-- repairs the drift of counts lost with an instance that died unflushed.
-- counted_at is when n was last counted exactly, or when the row was
-- started (by the first flush or erasure of a tenant created since, whose
-- count began at zero).
CREATE TABLE user_counts (
    tenant_id  bigint      PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    n          bigint      NOT NULL,
    counted_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO user_counts (tenant_id, n, counted_at)
SELECT t.id, (SELECT count(*) FROM users u WHERE u.tenant_id = t.id), now()
FROM tenants t;
