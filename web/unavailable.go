package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable answers a request that failed because a dependency could not
// serve it in time (Postgres down or restarting, its statement timeout,
// no pooled connection before the deadline): 503 with Retry-After, since
// the same request is expected to succeed once the dependency is back.
func Unavailable(err error) *Problem {
	p := NewProblem(http.StatusServiceUnavailable, "unavailable",
		"The service is briefly unavailable; retry after the time in Retry-After.").WithInternal(err)
	p.RetryAfter = time.Second
	return p
}

// dependencyDown reports whether err says a dependency was unreachable or
// too slow rather than that the request or the code was wrong.
func dependencyDown(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "53300",                // too_many_connections
			pe.Code == "57014",                // query_canceled: the statement timeout
			strings.HasPrefix(pe.Code, "57P"): // admin or crash shutdown, cannot connect now
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, context.DeadlineExceeded)
}
