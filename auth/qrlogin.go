package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// Scan to sign in on the web: a web page asks for a ticket and shows the
// mini-program code that opens the mini-program with it (the code's scene);
// the user, signed in to the mini-program, scans it and confirms; the page,
// waiting on the ticket, then receives its own session for that user.
//
// Tickets live in Redis as a hash, so every instance serves every step;
// each transition is one Lua script, so concurrent scans, confirms,
// cancels and polls on any instances have one outcome. The page proves it
// made the ticket with a poll token (stored as a SHA-256 hash, compared in
// the script; timing there reveals nothing of a 256-bit secret): whoever
// photographs the code learns the ticket, not the poll token.

// States of a ticket.
const (
	QRPending   = "pending"
	QRScanned   = "scanned"
	QRConfirmed = "confirmed"
	QRExpired   = "expired"
	QRCancelled = "cancelled"
	qrRedeemed  = "redeemed"
)

// DefaultQRLoginTTL is how long a ticket can be scanned and confirmed.
const DefaultQRLoginTTL = 3 * time.Minute

// qrGrace keeps an expired ticket readable, so a waiting page is told it
// expired rather than that it never existed.
const qrGrace = time.Minute

// Errors of scan to sign in.
var (
	ErrQRNotFound     = errors.New("qr login ticket not found")
	ErrQRExpired      = errors.New("qr login ticket expired")
	ErrQRCancelled    = errors.New("qr login ticket cancelled")
	ErrQRTaken        = errors.New("qr login ticket scanned by another user")
	ErrQRPollToken    = errors.New("wrong poll token for this qr login ticket")
	ErrQRUnavailable  = errors.New("qr login unavailable: redis cannot be reached")
	ErrQRPageRejected = errors.New("wechat refused the tenant's qr_login_page")
)

const ticketChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// TicketLen is a ticket's length: 32 characters of [0-9A-Za-z] (190 bits),
// the most a code's scene may hold.
const TicketLen = 32

// ValidTicket reports whether s can be a ticket.
func ValidTicket(s string) bool {
	if len(s) != TicketLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func newTicket() string {
	b := make([]byte, TicketLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = ticketChars[int(b[i])%len(ticketChars)] // 256 = 4*62+8: a slight bias, far from mattering at 190 bits
	}
	return string(b)
}

func hashPollToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// QRTicket is a new ticket as the web page receives it.
type QRTicket struct {
	Ticket    string        `json:"ticket"`
	PollToken string        `json:"poll_token"`
	ExpiresIn int           `json:"expires_in"`
	Image     wechat.Image  `json:"-"`
	TTL       time.Duration `json:"-"`
}

// QRScan is what the mini-program shows its user before confirming: where
// the sign-in request comes from.
type QRScan struct {
	Status      string    `json:"status"`
	ExpiresIn   int       `json:"expires_in"`
	RequestedAt time.Time `json:"requested_at"`
	IP          string    `json:"ip"`
	UserAgent   string    `json:"user_agent"`
}

// QRStatus is a ticket's state as the waiting page sees it; Tokens is set
// when this answer redeemed the confirmed ticket.
type QRStatus struct {
	Status    string         `json:"status"`
	ExpiresIn int            `json:"expires_in"`
	Tokens    *TokenResponse `json:"-"`
}

// qrKey is a ticket's hash; its image is qrKey+":img". The braces are a
// Redis Cluster hash tag: both keys live in one slot, so the transaction
// that writes them works on a cluster too.
func (s *Service) qrKey(rt *tenant.Runtime, ticket string) string {
	return s.redisPrefix + "qr:{" + strconv.FormatInt(rt.ID, 10) + ":" + ticket + "}"
}

// StartQRLogin makes a ticket and its mini-program code image, fetched at
// once so that WeChat's refusal (a page not released, a quota) is the
// caller's answer, and kept beside the ticket.
func (s *Service) StartQRLogin(ctx context.Context, sc *Scope, meta ClientMeta) (QRTicket, error) {
	if s.rdb == nil {
		return QRTicket{}, ErrQRUnavailable
	}
	rt := sc.Tenant
	t := QRTicket{Ticket: newTicket(), PollToken: randomToken(32), TTL: s.qrTTL}
	t.ExpiresIn = int(s.qrTTL.Seconds())
	req := wechat.WXACodeRequest{Scene: t.Ticket, Page: rt.QRLoginPage, EnvVersion: "release"}
	err := s.wxTokens.withAccessToken(ctx, rt, func(token string) error {
		var err error
		t.Image, err = s.wxFor(rt).WXACodeUnlimit(ctx, token, req)
		return err
	})
	if err != nil {
		if qerr, ok := s.quotaError(rt, err); ok {
			return QRTicket{}, qerr
		}
		if wechat.IsCode(err, wechat.CodeInvalidPage) {
			s.log.ErrorContext(ctx, "wechat refused the tenant's qr_login_page", "tenant", rt.Slug, "page", rt.QRLoginPage, "err", err)
			return QRTicket{}, fmt.Errorf("%w: %w: %w", ErrWeChatUnavailable, ErrQRPageRejected, err)
		}
		s.logUnavailable(ctx, rt, "wechat getwxacodeunlimit failed", err)
		return QRTicket{}, fmt.Errorf("%w: %w", ErrWeChatUnavailable, err)
	}
	key := s.qrKey(rt, t.Ticket)
	now := time.Now()
	keep := s.qrTTL + qrGrace
	ip := ""
	if meta.IP.IsValid() {
		ip = meta.IP.String()
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "status", QRPending, "poll", hashPollToken(t.PollToken),
			"created", now.UnixMilli(), "expires", now.Add(s.qrTTL).UnixMilli(),
			"ip", ip, "ua", CleanUserAgent(meta.UserAgent), "ctype", t.Image.ContentType)
		p.PExpire(ctx, key, keep)
		p.Set(ctx, key+":img", t.Image.Data, keep)
		return nil
	})
	if err != nil {
		return QRTicket{}, fmt.Errorf("%w: %w", ErrQRUnavailable, err)
	}
	return t, nil
}

// QRLoginImage is the ticket's cached code image and how long it is good for.
func (s *Service) QRLoginImage(ctx context.Context, rt *tenant.Runtime, ticket string) (wechat.Image, time.Duration, error) {
	if !ValidTicket(ticket) {
		return wechat.Image{}, 0, ErrQRNotFound
	}
	if s.rdb == nil {
		return wechat.Image{}, 0, ErrQRUnavailable
	}
	key := s.qrKey(rt, ticket)
	var img *redis.StringCmd
	var meta *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		img = p.Get(ctx, key+":img")
		meta = p.HMGet(ctx, key, "ctype", "expires")
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return wechat.Image{}, 0, ErrQRNotFound
	}
	if err != nil {
		return wechat.Image{}, 0, fmt.Errorf("%w: %w", ErrQRUnavailable, err)
	}
	data, _ := img.Bytes()
	vals := meta.Val()
	ctype, _ := vals[0].(string)
	expires, _ := strconv.ParseInt(fmt.Sprint(vals[1]), 10, 64)
	left := time.Until(time.UnixMilli(expires))
	if len(data) == 0 || ctype == "" || left <= 0 {
		return wechat.Image{}, 0, ErrQRNotFound
	}
	return wechat.Image{Data: data, ContentType: ctype}, left, nil
}

// qrScript moves a ticket. KEYS[1] the ticket; ARGV[1] the action (scan,
// confirm, cancel, webcancel, poll), ARGV[2] the user id (scan, confirm,
// cancel) or poll token hash (webcancel, poll). It answers {outcome,
// status, expires (ms), user, created (ms), ip, ua}; outcome is ok,
// missing, expired, cancelled, taken, poll (wrong poll token) or redeemed
// (this poll redeemed the confirmed ticket).
var qrScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'status', 'expires', 'user', 'poll', 'created', 'ip', 'ua')
if h[1] == false then return {'missing'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local status, user, action, arg = h[1], h[3] or '', ARGV[1], ARGV[2]
local function answer(outcome, st)
	return {outcome, st, h[2], user, h[5], h[6], h[7]}
end
if (action == 'poll' or action == 'webcancel') and h[4] ~= arg then return {'poll'} end
if status == 'redeemed' then return {'missing'} end
if (status == 'pending' or status == 'scanned') and now >= tonumber(h[2]) then
	status = 'expired'
	redis.call('HSET', KEYS[1], 'status', status)
end
if action == 'poll' then
	if status == 'confirmed' then
		redis.call('HSET', KEYS[1], 'status', 'redeemed')
		return answer('redeemed', 'confirmed')
	end
	return answer('ok', status)
end
if status == 'expired' then return answer('expired', status) end
if status == 'cancelled' then return answer('cancelled', status) end
if action == 'webcancel' then
	if status == 'confirmed' then return answer('taken', status) end
	redis.call('HSET', KEYS[1], 'status', 'cancelled')
	return answer('ok', 'cancelled')
end
if user ~= '' and user ~= arg then return answer('taken', status) end
if status == 'confirmed' then
	if action == 'confirm' then return answer('ok', status) end
	return answer('taken', status)
end
local next = ({scan = 'scanned', confirm = 'confirmed', cancel = 'cancelled'})[action]
redis.call('HSET', KEYS[1], 'status', next, 'user', arg)
user = arg
return answer('ok', next)`)

// qrMove runs qrScript and turns its outcome into the ticket's state.
func (s *Service) qrMove(ctx context.Context, rt *tenant.Runtime, ticket, action, arg string) (outcome string, st qrState, err error) {
	if !ValidTicket(ticket) {
		return "", st, ErrQRNotFound
	}
	if s.rdb == nil {
		return "", st, ErrQRUnavailable
	}
	res, err := qrScript.Run(ctx, s.rdb, []string{s.qrKey(rt, ticket)}, action, arg).StringSlice()
	if err != nil {
		return "", st, fmt.Errorf("%w: %w", ErrQRUnavailable, err)
	}
	outcome = res[0]
	switch outcome {
	case "missing":
		return outcome, st, ErrQRNotFound
	case "poll":
		return outcome, st, ErrQRPollToken
	}
	st.status = res[1]
	expires, _ := strconv.ParseInt(res[2], 10, 64)
	st.expiresIn = max(int(time.Until(time.UnixMilli(expires)).Seconds()), 0)
	st.user, _ = uuid.Parse(res[3])
	created, _ := strconv.ParseInt(res[4], 10, 64)
	st.created = time.UnixMilli(created).UTC()
	st.ip, st.ua = res[5], res[6]
	switch outcome {
	case "expired":
		return outcome, st, ErrQRExpired
	case "cancelled":
		return outcome, st, ErrQRCancelled
	case "taken":
		return outcome, st, ErrQRTaken
	}
	return outcome, st, nil
}

type qrState struct {
	status    string
	expiresIn int
	user      uuid.UUID
	created   time.Time
	ip, ua    string
}

// ScanQRLogin marks the ticket scanned by the caller and tells what the
// mini-program should show before the user confirms.
func (s *Service) ScanQRLogin(ctx context.Context, p *Principal, ticket string) (QRScan, error) {
	_, st, err := s.qrMove(ctx, p.Tenant, ticket, "scan", p.UserID.String())
	if err != nil {
		return QRScan{}, err
	}
	return QRScan{Status: st.status, ExpiresIn: st.expiresIn, RequestedAt: st.created, IP: st.ip, UserAgent: st.ua}, nil
}

// ConfirmQRLogin confirms the ticket for the caller: the waiting page will
// receive a session of the caller's.
func (s *Service) ConfirmQRLogin(ctx context.Context, p *Principal, ticket string) error {
	_, _, err := s.qrMove(ctx, p.Tenant, ticket, "confirm", p.UserID.String())
	return err
}

// CancelQRLogin refuses the ticket from the mini-program.
func (s *Service) CancelQRLogin(ctx context.Context, p *Principal, ticket string) error {
	_, _, err := s.qrMove(ctx, p.Tenant, ticket, "cancel", p.UserID.String())
	return err
}

// AbandonQRLogin cancels the ticket from the page that made it.
func (s *Service) AbandonQRLogin(ctx context.Context, rt *tenant.Runtime, ticket, pollToken string) error {
	_, _, err := s.qrMove(ctx, rt, ticket, "webcancel", hashPollToken(pollToken))
	return err
}

// qrPollEvery is how often a waiting page's request re-reads its ticket.
// Reading Redis is how a change made on any instance reaches the waiter;
// at this rate a thousand waiting pages cost 4,000 small reads a second.
const qrPollEvery = 250 * time.Millisecond

// WaitQRLogin answers the ticket's state to the page that made it, waiting
// up to wait for a state other than since (no wait when since is "").
// The answer that sees the ticket confirmed redeems it, once across every
// instance, with a new web session for the confirming user.
func (s *Service) WaitQRLogin(ctx context.Context, sc *Scope, ticket, pollToken, since string, wait time.Duration, meta ClientMeta) (QRStatus, error) {
	hash := hashPollToken(pollToken)
	deadline := time.Now().Add(wait)
	for {
		outcome, st, err := s.qrMove(ctx, sc.Tenant, ticket, "poll", hash)
		if err != nil {
			return QRStatus{}, err
		}
		if outcome == "redeemed" {
			meta.Client = SessionWeb
			tokens, err := s.loginUser(ctx, sc, st.user, meta)
			if err != nil {
				// Nothing was issued: the page may poll again (a ban or a
				// disabled user will refuse again).
				s.rdb.HSet(context.WithoutCancel(ctx), s.qrKey(sc.Tenant, ticket), "status", QRConfirmed)
				return QRStatus{}, err
			}
			return QRStatus{Status: QRConfirmed, ExpiresIn: st.expiresIn, Tokens: &tokens}, nil
		}
		if since == "" || st.status != since || !time.Now().Before(deadline) {
			return QRStatus{Status: st.status, ExpiresIn: st.expiresIn}, nil
		}
		select {
		case <-ctx.Done():
			return QRStatus{Status: st.status, ExpiresIn: st.expiresIn}, nil
		case <-time.After(min(qrPollEvery, time.Until(deadline))):
		}
	}
}

// loginUser opens a new session for a known user of the scope's tenant,
// with a login's checks: the user active, no ban on the user.
func (s *Service) loginUser(ctx context.Context, sc *Scope, userID uuid.UUID, meta ClientMeta) (TokenResponse, error) {
	var openID string
	var unionID *string
	err := s.db.QueryRow(ctx, `SELECT openid, unionid FROM users WHERE tenant_id = $1 AND id = $2`,
		sc.Tenant.ID, userID).Scan(&openID, &unionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return TokenResponse{}, ErrUserNotFound
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return s.loginAs(ctx, sc, account{UserID: userID, OpenID: openID, UnionID: unionID}, meta)
}
