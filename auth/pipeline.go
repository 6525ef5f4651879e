package auth

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipelinedTx runs a transaction in two round trips to Postgres instead of
// one per statement: BEGIN with the statements first queues, then, once
// their results are in, the statements then queues with COMMIT. then may
// refuse (its error rolls back). The results of a batch's statements are
// read by the callbacks their QueuedQuery was given, before the next step.
// On any failure the transaction is rolled back; a connection whose
// rollback fails is not reused (the pool drops a connection left in a
// transaction).
func pipelinedTx(ctx context.Context, db *pgxpool.Pool, first func(*pgx.Batch), then func(*pgx.Batch) error) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rollback := func(err error) error {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	first(b)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return rollback(err)
	}
	b = &pgx.Batch{}
	if err := then(b); err != nil {
		return rollback(err)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return rollback(err)
	}
	return nil
}
