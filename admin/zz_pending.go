package admin

import (
	"net/netip"
	"time"

	"github.com/google/uuid"
)

const ConsoleIdleTimeout = 30 * time.Minute
const ConsoleAbsoluteTimeout = 12 * time.Hour

type ConsoleSession struct {
	ID                               uuid.UUID
	Account                          Account
	CreatedAt, LastSeenAt, ExpiresAt time.Time
	IP                               netip.Addr
	UserAgent                        string
}
type SignInState struct{ CaptchaRequired bool }

func CSRFToken(token string) string          { return token }
func CheckCSRF(token, presented string) bool { return token == presented }
