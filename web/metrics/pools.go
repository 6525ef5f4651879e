package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// PGXPool collects a pgx pool's statistics at every scrape: how many
// connections are in use and idle, and how often and how long requests
// waited for one (the saturation signal).
func PGXPool(pool *pgxpool.Pool) prometheus.Collector {
	s := func() *pgxpool.Stat { return pool.Stat() }
	return &funcCollector{metrics: []funcMetric{
		gaugeFunc("miniauth_db_pool_acquired_conns", "Connections of the Postgres pool in use.",
			func() float64 { return float64(s().AcquiredConns()) }),
		gaugeFunc("miniauth_db_pool_idle_conns", "Idle connections of the Postgres pool.",
			func() float64 { return float64(s().IdleConns()) }),
		gaugeFunc("miniauth_db_pool_total_conns", "Connections of the Postgres pool, in use, idle or being opened.",
			func() float64 { return float64(s().TotalConns()) }),
		gaugeFunc("miniauth_db_pool_max_conns", "Most connections the Postgres pool opens.",
			func() float64 { return float64(s().MaxConns()) }),
		counterFunc("miniauth_db_pool_acquires_total", "Connections taken from the Postgres pool.",
			func() float64 { return float64(s().AcquireCount()) }),
		counterFunc("miniauth_db_pool_waits_total", "Acquires that waited because no connection of the Postgres pool was idle.",
			func() float64 { return float64(s().EmptyAcquireCount()) }),
		counterFunc("miniauth_db_pool_wait_seconds_total", "Time spent waiting for a connection of the Postgres pool.",
			func() float64 { return s().EmptyAcquireWaitTime().Seconds() }),
		counterFunc("miniauth_db_pool_canceled_acquires_total", "Acquires of the Postgres pool given up by their caller.",
			func() float64 { return float64(s().CanceledAcquireCount()) }),
	}}
}

// RedisPool collects a go-redis client's pool statistics at every scrape.
func RedisPool(rdb redis.UniversalClient) prometheus.Collector {
	s := rdb.PoolStats
	return &funcCollector{metrics: []funcMetric{
		gaugeFunc("miniauth_redis_pool_total_conns", "Connections of the Redis pool.",
			func() float64 { return float64(s().TotalConns) }),
		gaugeFunc("miniauth_redis_pool_idle_conns", "Idle connections of the Redis pool.",
			func() float64 { return float64(s().IdleConns) }),
		counterFunc("miniauth_redis_pool_hits_total", "Times an idle connection of the Redis pool was reused.",
			func() float64 { return float64(s().Hits) }),
		counterFunc("miniauth_redis_pool_misses_total", "Times the Redis pool had no idle connection.",
			func() float64 { return float64(s().Misses) }),
		counterFunc("miniauth_redis_pool_timeouts_total", "Times waiting for a connection of the Redis pool timed out.",
			func() float64 { return float64(s().Timeouts) }),
		counterFunc("miniauth_redis_pool_waits_total", "Times a command waited for a connection of the Redis pool.",
			func() float64 { return float64(s().WaitCount) }),
		counterFunc("miniauth_redis_pool_wait_seconds_total", "Time spent waiting for a connection of the Redis pool.",
			func() float64 { return float64(s().WaitDurationNs) / 1e9 }),
	}}
}

// funcCollector reads its values when scraped, so a pool's own counters
// are exported as they are, with nothing kept in between.
type funcCollector struct{ metrics []funcMetric }

type funcMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func() float64
}

func gaugeFunc(name, help string, f func() float64) funcMetric {
	return funcMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, f}
}

func counterFunc(name, help string, f func() float64) funcMetric {
	return funcMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, f}
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value())
	}
}
