// Package fake is an in-process stand-in for the WeChat mini-program server
// API, behaving as WeChat documents it, quirks included (HTTP 200 for every
// WeChat error, no errcode on jscode2session success, single-use codes, token
// overlap), so that tests against it mean something. It also lets tests mint
// login and phone codes for chosen users, inject faults and count calls.
// cmd/wxfake serves it over HTTP for scripts and benchmarks.
//
//	f := fake.New()
//	f.AddApp("wx1", "secret1", "")
//	srv := httptest.NewServer(f)
//	code := f.MintCode("wx1", "alice")
package fake

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Endpoint names, as used by Calls and Fault.Endpoint.
const (
	EndpointJSCode2Session  = "jscode2session"
	EndpointStableToken     = "stable_token"
	EndpointToken           = "token"
	EndpointPhoneNumber     = "getuserphonenumber"
	EndpointCheckSession    = "checksession"
	EndpointResetSessionKey = "resetusersessionkey"
	EndpointWXACode         = "getwxacodeunlimit"
)

var endpoints = []string{
	EndpointJSCode2Session, EndpointStableToken, EndpointToken,
	EndpointPhoneNumber, EndpointCheckSession, EndpointResetSessionKey, EndpointWXACode,
}

const (
	codeTTL      = 5 * time.Minute
	tokenTTL     = 7200 * time.Second
	tokenOverlap = 5 * time.Minute // old token's grace, and stable_token's early rotation
	sweepEvery   = time.Minute
)

// Option configures a Server.
type Option func(*Server)

// WithClock replaces time.Now, so tests can expire codes and tokens without
// sleeping. It does not affect Fault.Delay, which is real time.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// Server is the fake API; it is an http.Handler and safe for concurrent use.
type Server struct {
	now func() time.Time
	mux *http.ServeMux

	mu          sync.Mutex
	apps        map[string]app
	codes       map[string]*loginCode
	phoneCodes  map[string]*phoneCode
	tokens      map[string]*issuedToken
	stable      map[string]string // appid -> current stable_token
	latest      map[string]string // appid -> newest cgi-bin/token
	sessionKeys map[userRef]string
	pages       map[string][]string // appid -> released pages, when set
	lastCode    codeRequest
	faults      []*Fault
	calls       map[string]int
	lastSweep   time.Time
}

type app struct {
	secret       string
	openPlatform string
}

type loginCode struct {
	appID, user string
	expires     time.Time
	used        bool
}

type phoneCode struct {
	appID, phone string
	expires      time.Time
	used         bool
}

type issuedToken struct {
	appID   string
	expires time.Time
}

type userRef struct{ appID, openID string }

// New returns an empty fake: no apps, no codes, no faults.
func New(opts ...Option) *Server {
	s := &Server{
		now:         time.Now,
		apps:        map[string]app{},
		codes:       map[string]*loginCode{},
		phoneCodes:  map[string]*phoneCode{},
		tokens:      map[string]*issuedToken{},
		stable:      map[string]string{},
		latest:      map[string]string{},
		sessionKeys: map[userRef]string{},
		pages:       map[string][]string{},
		calls:       map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// AddApp registers (or replaces) an app. Apps given the same non-empty
// openPlatform id give a user the same unionid; "" means unbound, no unionid.
func (s *Server) AddApp(appID, secret, openPlatform string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = app{secret: secret, openPlatform: openPlatform}
}

// MintCode returns a fresh single-use login code, valid 5 minutes, that
// jscode2session will exchange for user's session in appID. user is any key
// the test chooses; the appid need not be registered yet.
func (s *Server) MintCode(appID, user string) string {
	code := randomHex(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	s.codes[code] = &loginCode{appID: appID, user: user, expires: now.Add(codeTTL)}
	return code
}

// MintPhoneCode returns a fresh single-use getPhoneNumber code for appID,
// valid 5 minutes; phone is the number without country code (country 86).
func (s *Server) MintPhoneCode(appID, phone string) string {
	code := randomHex(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	s.phoneCodes[code] = &phoneCode{appID: appID, phone: phone, expires: now.Add(codeTTL)}
	return code
}

// OpenID is the openid user has in appID: 28 characters starting with "o",
// the same on every call and every run.
func (s *Server) OpenID(appID, user string) string { return OpenIDOf(appID, user) }

// OpenIDOf is the openid every fake gives user in appID, for tools that
// seed users the fake will then recognise (cmd/miniload).
func OpenIDOf(appID, user string) string { return derivedID("openid", appID, user) }

// UnionID is the unionid user has through appID, or "" when the app is
// unknown or not bound to an Open Platform account.
func (s *Server) UnionID(appID, user string) string {
	s.mu.Lock()
	a, ok := s.apps[appID]
	s.mu.Unlock()
	if !ok || a.openPlatform == "" {
		return ""
	}
	return derivedID("unionid", a.openPlatform, user)
}

// SessionKey is user's current session_key in appID, set by the last
// successful jscode2session or resetusersessionkey; ok is false before that.
func (s *Server) SessionKey(appID, user string) (key string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok = s.sessionKeys[userRef{appID, s.OpenID(appID, user)}]
	return key, ok
}

// Secrets are every credential the fake holds: the apps' secrets, the
// session keys it has issued (current ones) and its access tokens, for
// tests that check none of them leaks.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range s.apps {
		out = append(out, a.secret)
	}
	for _, k := range s.sessionKeys {
		out = append(out, k)
	}
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// Calls is how many requests endpoint has received since New or Reset,
// including those answered by a fault.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

func (s *Server) stats() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(endpoints))
	for _, e := range endpoints {
		out[e] = s.calls[e]
	}
	return out
}

// Reset zeroes the counters and drops pending faults, so a test phase starts
// clean. Apps, codes, tokens and session keys survive: other components (a
// token cache, a logged-in user) may still hold them.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.faults = nil
}

// sweep forgets expired codes and tokens so a long-running wxfake does not
// grow without bound. Expired entries already answer exactly like unknown
// ones, so forgetting them changes no behaviour. Callers hold s.mu.
func (s *Server) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery {
		return
	}
	s.lastSweep = now
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
	for k, c := range s.phoneCodes {
		if !now.Before(c.expires) {
			delete(s.phoneCodes, k)
		}
	}
	for k, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
}

// derivedID makes stable, distinct ids per (kind, scope, user) without
// storing them, so OpenID and UnionID work before any login happened.
func derivedID(kind, scope, user string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + scope + "\x00" + user))
	return "o" + base64.RawURLEncoding.EncodeToString(sum[:])[:27]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b)
}

// newSessionKey has the real shape: 16 random bytes in padded base64.
func newSessionKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func newToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newRID(now time.Time) string {
	return fmt.Sprintf("%08x-%s-%s", uint32(now.Unix()), randomHex(4), randomHex(4))
}
