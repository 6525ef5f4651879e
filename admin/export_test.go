package admin

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// NewConsoleSessionsAt is NewConsoleSessions reading session time from now,
// so external tests cover the timeouts without sleeping.
func NewConsoleSessionsAt(db *pgxpool.Pool, changes Changes, now func() time.Time) *ConsoleSessions {
	return newConsoleSessions(db, changes, now)
}
