package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Errcodes the fake answers. Kept apart from the client's constants on
// purpose: a wrong number shared by both would make tests pass for nothing.
const (
	errSystemBusy       = -1
	errInvalidToken     = 40001
	errInvalidGrantType = 40002
	errInvalidAppID     = 40013
	errInvalidCode      = 40029
	errInvalidSecret    = 40125
	errCodeUsed         = 40163
	errTokenMissing     = 41001
	errAppIDMissing     = 41002
	errSecretMissing    = 41004
	errCodeMissing      = 41008
	errOpenIDMissing    = 41009
	errBadRequestBody   = 47001
	errBadSigMethod     = 87008
	errInvalidSignature = 87009
)

var errMsgs = map[int]string{
	errSystemBusy:       "system error",
	errInvalidToken:     "invalid credential, access_token is invalid or not latest",
	errInvalidGrantType: "invalid grant_type",
	errInvalidAppID:     "invalid appid",
	40014:               "invalid access_token",
	errInvalidCode:      "invalid code",
	errInvalidSecret:    "invalid appsecret",
	errCodeUsed:         "code been used",
	40164:               "invalid ip, not in whitelist",
	errInvalidScene:     "invalid scene",
	errSceneTooLong:     "scene too long or data format error",
	errInvalidPage:      "invalid page rid",
	40226:               "high risk user",
	errTokenMissing:     "access_token missing",
	errAppIDMissing:     "appid missing",
	errSecretMissing:    "appsecret missing",
	errCodeMissing:      "missing code",
	errOpenIDMissing:    "missing openid",
	42001:               "access_token expired",
	45009:               "reach max api daily quota limit",
	45011:               "api minute-quota reach limit mustslower retry next minute",
	errBadRequestBody:   "data format error",
	48001:               "api unauthorized",
	errBadSigMethod:     "invalid sig_method",
	errInvalidSignature: "invalid signature",
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /sns/jscode2session", s.handleJSCode2Session)
	m.HandleFunc("POST /cgi-bin/stable_token", s.handleStableToken)
	m.HandleFunc("GET /cgi-bin/token", s.handleToken)
	m.HandleFunc("POST /wxa/business/getuserphonenumber", s.handlePhoneNumber)
	m.HandleFunc("GET /wxa/checksession", s.handleCheckSession)
	m.HandleFunc("GET /wxa/resetusersessionkey", s.handleResetSessionKey)
	m.HandleFunc("POST /wxa/getwxacodeunlimit", s.handleWXACode)
	s.controlRoutes(m)
	s.mux = m
}

func (s *Server) handleJSCode2Session(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointJSCode2Session
	q := r.URL.Query()
	appID := q.Get("appid")
	if s.begin(w, r, ep, appID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if code := s.checkApp(appID, q.Get("secret")); code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		writeErr(w, now, ep, errInvalidGrantType)
		return
	}
	jsCode := q.Get("js_code")
	if jsCode == "" {
		writeErr(w, now, ep, errCodeMissing)
		return
	}
	// Expiry is checked before use, so a spent code answers the same before
	// and after sweep forgets it.
	c, ok := s.codes[jsCode]
	switch {
	case !ok || c.appID != appID || !now.Before(c.expires):
		writeErr(w, now, ep, errInvalidCode)
		return
	case c.used:
		writeErr(w, now, ep, errCodeUsed)
		return
	}
	c.used = true

	openID := s.OpenID(appID, c.user)
	key := newSessionKey()
	s.sessionKeys[userRef{appID, openID}] = key
	out := struct {
		SessionKey string `json:"session_key"`
		OpenID     string `json:"openid"`
		UnionID    string `json:"unionid,omitempty"`
	}{SessionKey: key, OpenID: openID}
	if p := s.apps[appID].openPlatform; p != "" {
		out.UnionID = derivedID("unionid", p, c.user)
	}
	// No errcode field: real success bodies of jscode2session carry none.
	writeJSON(w, ep, out)
}

// checkApp validates credentials the way WeChat orders its answers. Callers
// hold s.mu.
func (s *Server) checkApp(appID, secret string) int {
	if appID == "" {
		return errAppIDMissing
	}
	a, ok := s.apps[appID]
	if !ok {
		return errInvalidAppID
	}
	if secret == "" {
		return errSecretMissing
	}
	if secret != a.secret {
		return errInvalidSecret
	}
	return 0
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Server) handleStableToken(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointStableToken
	var in struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	bodyErr := readJSON(r, &in)
	if s.begin(w, r, ep, in.AppID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if bodyErr != nil {
		writeErr(w, now, ep, errBadRequestBody)
		return
	}
	if code := s.checkApp(in.AppID, in.Secret); code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	if in.GrantType != "client_credential" {
		writeErr(w, now, ep, errInvalidGrantType)
		return
	}
	s.sweep(now)
	cur, ok := s.tokens[s.stable[in.AppID]]
	if ok && !in.ForceRefresh && now.Before(cur.expires.Add(-tokenOverlap)) {
		writeJSON(w, ep, tokenAnswer{s.stable[in.AppID], int64(cur.expires.Sub(now) / time.Second)})
		return
	}
	// Unforced rotation happens in the last 5 minutes, so the old token keeps
	// its own, shorter, remaining life; forced rotation cuts it to 5 minutes.
	if ok && in.ForceRefresh {
		cur.expires = minTime(cur.expires, now.Add(tokenOverlap))
	}
	tok := s.issueToken(in.AppID, now)
	s.stable[in.AppID] = tok
	writeJSON(w, ep, tokenAnswer{tok, int64(tokenTTL / time.Second)})
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointToken
	q := r.URL.Query()
	appID := q.Get("appid")
	if s.begin(w, r, ep, appID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if code := s.checkApp(appID, q.Get("secret")); code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	if q.Get("grant_type") != "client_credential" {
		writeErr(w, now, ep, errInvalidGrantType)
		return
	}
	s.sweep(now)
	// Every fetch invalidates the previous token after 5 minutes: the reason
	// several instances fetching on their own clobber each other.
	if old, ok := s.tokens[s.latest[appID]]; ok {
		old.expires = minTime(old.expires, now.Add(tokenOverlap))
	}
	tok := s.issueToken(appID, now)
	s.latest[appID] = tok
	writeJSON(w, ep, tokenAnswer{tok, int64(tokenTTL / time.Second)})
}

// issueToken records a new token. Callers hold s.mu.
func (s *Server) issueToken(appID string, now time.Time) string {
	tok := newToken()
	s.tokens[tok] = &issuedToken{appID: appID, expires: now.Add(tokenTTL)}
	return tok
}

// tokenApp is the app whose valid token tok is, or "". It takes s.mu.
func (s *Server) tokenApp(tok string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenAppLocked(tok, s.now())
}

func (s *Server) tokenAppLocked(tok string, now time.Time) string {
	t, ok := s.tokens[tok]
	if !ok || !now.Before(t.expires) {
		return ""
	}
	return t.appID
}

// checkToken answers the token-taking endpoints' common errors. Callers hold
// s.mu.
func (s *Server) checkToken(tok string, now time.Time) (appID string, errcode int) {
	if tok == "" {
		return "", errTokenMissing
	}
	if appID = s.tokenAppLocked(tok, now); appID == "" {
		return "", errInvalidToken
	}
	return appID, 0
}

func (s *Server) handlePhoneNumber(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointPhoneNumber
	tok := r.URL.Query().Get("access_token")
	var in struct {
		Code string `json:"code"`
	}
	bodyErr := readJSON(r, &in)
	if s.begin(w, r, ep, s.tokenApp(tok)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	appID, code := s.checkToken(tok, now)
	if code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	if bodyErr != nil {
		writeErr(w, now, ep, errBadRequestBody)
		return
	}
	c, ok := s.phoneCodes[in.Code]
	if !ok || c.used || c.appID != appID || !now.Before(c.expires) {
		writeErr(w, now, ep, errInvalidCode)
		return
	}
	c.used = true

	type watermark struct {
		Timestamp int64  `json:"timestamp"`
		AppID     string `json:"appid"`
	}
	type phoneInfo struct {
		PhoneNumber     string    `json:"phoneNumber"`
		PurePhoneNumber string    `json:"purePhoneNumber"`
		CountryCode     string    `json:"countryCode"`
		Watermark       watermark `json:"watermark"`
	}
	writeJSON(w, ep, struct {
		ErrCode   int       `json:"errcode"`
		ErrMsg    string    `json:"errmsg"`
		PhoneInfo phoneInfo `json:"phone_info"`
	}{0, "ok", phoneInfo{c.phone, c.phone, "86", watermark{now.Unix(), appID}}})
}

func (s *Server) handleCheckSession(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointCheckSession
	q := r.URL.Query()
	tok := q.Get("access_token")
	if s.begin(w, r, ep, s.tokenApp(tok)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if _, code := s.verifySignature(q, now); code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	writeJSON(w, ep, envelope{0, "ok"})
}

func (s *Server) handleResetSessionKey(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointResetSessionKey
	q := r.URL.Query()
	tok := q.Get("access_token")
	if s.begin(w, r, ep, s.tokenApp(tok)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ref, code := s.verifySignature(q, now)
	if code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	key := newSessionKey()
	s.sessionKeys[ref] = key
	writeJSON(w, ep, struct {
		ErrCode    int    `json:"errcode"`
		ErrMsg     string `json:"errmsg"`
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}{0, "ok", ref.openID, key})
}

// verifySignature checks the session_key proof shared by checksession and
// resetusersessionkey. Callers hold s.mu.
func (s *Server) verifySignature(q url.Values, now time.Time) (userRef, int) {
	get := q.Get
	appID, code := s.checkToken(get("access_token"), now)
	if code != 0 {
		return userRef{}, code
	}
	if get("sig_method") != "hmac_sha256" {
		return userRef{}, errBadSigMethod
	}
	openID := get("openid")
	if openID == "" {
		return userRef{}, errOpenIDMissing
	}
	ref := userRef{appID, openID}
	key, ok := s.sessionKeys[ref]
	if !ok {
		return userRef{}, errInvalidSignature
	}
	// The key is the base64 text itself, not its decoded bytes.
	m := hmac.New(sha256.New, []byte(key))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(strings.ToLower(get("signature"))), []byte(want)) {
		return userRef{}, errInvalidSignature
	}
	return ref, 0
}

type envelope struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func writeErr(w http.ResponseWriter, now time.Time, endpoint string, code int) {
	msg, ok := errMsgs[code]
	if !ok {
		msg = "error"
	}
	// Always HTTP 200: WeChat reports failures only in the body.
	writeJSON(w, endpoint, envelope{code, msg + ", rid: " + newRID(now)})
}

func writeJSON(w http.ResponseWriter, endpoint string, v any) {
	ct := "application/json; charset=utf-8"
	if endpoint == EndpointJSCode2Session {
		// Deliberately not application/json: WeChat does not document the
		// Content-Type of this answer, and clients must not depend on it.
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a WeChat request body. Unknown fields are tolerated, as a
// real API would.
func readJSON(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
