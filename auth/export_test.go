package auth

import "time"

// SetTokensNow lets external tests move a Tokens' clock.
func SetTokensNow(t *Tokens, now func() time.Time) { t.now = now }
