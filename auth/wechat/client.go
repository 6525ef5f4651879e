// Package wechat is a small client for the WeChat mini-program server API.
//
// It is hand-written rather than taken from an SDK so that each instance has
// its own base URL and *http.Client (tests point it at auth/wechat/fake), every
// call takes a context, and errors are typed: *APIError when WeChat answered
// with an errcode, ErrUnavailable when it gave no usable answer. The client
// never retries: a login code may already be spent when an answer is lost,
// and access-token policy belongs to the caller's shared cache.
package wechat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://api.weixin.qq.com"

// maxBody bounds what is read from WeChat; real answers are a few hundred bytes.
const maxBody = 64 << 10

// Client calls one WeChat API base URL. It is safe for concurrent use.
type Client struct {
	base    string
	hc      *http.Client
	observe Observer
}

// Endpoints are the names of the endpoints the client calls, as an
// Observer is told them.
var Endpoints = []string{"jscode2session", "stable_token", "getuserphonenumber", "checksession",
	"resetusersessionkey", "getwxacodeunlimit"}

// Observer learns of every call to WeChat when it is done: the endpoint
// (jscode2session, getwxacodeunlimit, ...), how long it took and its error
// (an *APIError for an errcode), nil on success.
type Observer func(endpoint string, took time.Duration, err error)

// Observe makes o learn of every later call; o must be safe for
// concurrent use.
func (c *Client) Observe(o Observer) { c.observe = o }

// observed reports a call that started at start to the observer.
func (c *Client) observed(op string, start time.Time, err error) {
	if c.observe != nil {
		c.observe(op, time.Since(start), err)
	}
}

// New returns a client for baseURL (e.g. DefaultBaseURL). A nil hc gets a 5 s
// timeout, because a client without one hangs forever on a stalled upstream.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Session is the answer of jscode2session.
type Session struct {
	OpenID     string
	SessionKey string
	UnionID    string // empty unless the app is bound to an Open Platform account
}

// String keeps the session_key out of anything that formats a Session.
func (s Session) String() string {
	return fmt.Sprintf("{OpenID:%s UnionID:%s SessionKey:[redacted]}", s.OpenID, s.UnionID)
}

// GoString covers %#v, which bypasses String.
func (s Session) GoString() string { return "wechat.Session" + s.String() }

// LogValue keeps the session_key out of structured logs.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("openid", s.OpenID), slog.String("unionid", s.UnionID))
}

// AccessToken is an app's credential for the token-taking endpoints.
type AccessToken struct {
	Token     string
	ExpiresIn time.Duration
}

// String keeps the token out of anything that formats an AccessToken.
func (t AccessToken) String() string {
	return fmt.Sprintf("{Token:[redacted] ExpiresIn:%s}", t.ExpiresIn)
}

// GoString covers %#v, which bypasses String.
func (t AccessToken) GoString() string { return "wechat.AccessToken" + t.String() }

// LogValue keeps the token out of structured logs.
func (t AccessToken) LogValue() slog.Value {
	return slog.GroupValue(slog.Duration("expires_in", t.ExpiresIn))
}

// Phone is the answer of getuserphonenumber.
type Phone struct {
	PhoneNumber        string // with country code for numbers outside mainland China
	PurePhoneNumber    string
	CountryCode        string
	WatermarkAppID     string // callers should check it equals their appid
	WatermarkTimestamp int64
}

// Code2Session exchanges a wx.login code. It is never retried: WeChat may have
// spent the code even when its answer was lost.
func (c *Client) Code2Session(ctx context.Context, appID, secret, code string) (Session, error) {
	const op = "jscode2session"
	q := url.Values{
		"appid":      {appID},
		"secret":     {secret},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}
	var out struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid"`
	}
	if err := c.call(ctx, op, http.MethodGet, "/sns/jscode2session", q, nil, &out, secret, code); err != nil {
		return Session{}, err
	}
	if out.OpenID == "" || out.SessionKey == "" {
		return Session{}, unavailable(op, "answer without openid or session_key")
	}
	return Session{OpenID: out.OpenID, SessionKey: out.SessionKey, UnionID: out.UnionID}, nil
}

// StableToken fetches the app's stable access token. Without forceRefresh
// WeChat returns the current token while it is valid, so calling it from
// several instances does not invalidate each other's tokens; forceRefresh is
// rate limited by WeChat (20 a day, 30 s apart) and meant for a token that
// WeChat rejected.
func (c *Client) StableToken(ctx context.Context, appID, secret string, forceRefresh bool) (AccessToken, error) {
	const op = "stable_token"
	body := struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", appID, secret, forceRefresh}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := c.call(ctx, op, http.MethodPost, "/cgi-bin/stable_token", nil, body, &out, secret); err != nil {
		return AccessToken{}, err
	}
	// A lifetime longer than a time.Duration holds would wrap around.
	if out.AccessToken == "" || out.ExpiresIn <= 0 || out.ExpiresIn > int64(math.MaxInt64/time.Second) {
		return AccessToken{}, unavailable(op, "answer without access_token or expires_in")
	}
	return AccessToken{Token: out.AccessToken, ExpiresIn: time.Duration(out.ExpiresIn) * time.Second}, nil
}

// PhoneNumber exchanges a getPhoneNumber code for the user's phone number.
func (c *Client) PhoneNumber(ctx context.Context, accessToken, code string) (Phone, error) {
	const op = "getuserphonenumber"
	var out struct {
		Info *struct {
			PhoneNumber     string      `json:"phoneNumber"`
			PurePhoneNumber string      `json:"purePhoneNumber"`
			CountryCode     countryCode `json:"countryCode"`
			Watermark       struct {
				Timestamp int64  `json:"timestamp"`
				AppID     string `json:"appid"`
			} `json:"watermark"`
		} `json:"phone_info"`
	}
	q := url.Values{"access_token": {accessToken}}
	body := struct {
		Code string `json:"code"`
	}{code}
	if err := c.call(ctx, op, http.MethodPost, "/wxa/business/getuserphonenumber", q, body, &out, accessToken, code); err != nil {
		return Phone{}, err
	}
	if out.Info == nil || out.Info.PhoneNumber == "" {
		return Phone{}, unavailable(op, "answer without phone_info.phoneNumber")
	}
	return Phone{
		PhoneNumber:        out.Info.PhoneNumber,
		PurePhoneNumber:    out.Info.PurePhoneNumber,
		CountryCode:        string(out.Info.CountryCode),
		WatermarkAppID:     out.Info.Watermark.AppID,
		WatermarkTimestamp: out.Info.Watermark.Timestamp,
	}, nil
}

// countryCode accepts both shapes WeChat documents: a string in the field
// tables, a number in the sample answer.
type countryCode string

func (cc *countryCode) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*cc = countryCode(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*cc = countryCode(n.String())
	return nil
}

// CheckSession asks WeChat whether sessionKey is still the user's current
// one; it answers *APIError with CodeInvalidSignature when it is not.
func (c *Client) CheckSession(ctx context.Context, accessToken, openID, sessionKey string) error {
	sig := SessionSignature(sessionKey, "")
	q := url.Values{
		"access_token": {accessToken},
		"openid":       {openID},
		"signature":    {sig},
		"sig_method":   {"hmac_sha256"},
	}
	var out struct{}
	return c.call(ctx, "checksession", http.MethodGet, "/wxa/checksession", q, nil, &out, accessToken, sessionKey, sig)
}

// ResetSessionKey makes WeChat replace the user's session_key, proving
// possession of the current one, and returns the new one.
func (c *Client) ResetSessionKey(ctx context.Context, accessToken, openID, sessionKey string) (Session, error) {
	const op = "resetusersessionkey"
	sig := SessionSignature(sessionKey, "")
	q := url.Values{
		"access_token": {accessToken},
		"openid":       {openID},
		"signature":    {sig},
		"sig_method":   {"hmac_sha256"},
	}
	var out struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
	}
	if err := c.call(ctx, op, http.MethodGet, "/wxa/resetusersessionkey", q, nil, &out, accessToken, sessionKey, sig); err != nil {
		return Session{}, err
	}
	if out.SessionKey == "" {
		return Session{}, unavailable(op, "answer without session_key")
	}
	if out.OpenID == "" {
		out.OpenID = openID
	}
	return Session{OpenID: out.OpenID, SessionKey: out.SessionKey}, nil
}

// SessionSignature is WeChat's session_key proof: hex HMAC-SHA256 of msg keyed
// with the base64 text of the session_key (not the decoded bytes).
func SessionSignature(sessionKey, msg string) string {
	m := hmac.New(sha256.New, []byte(sessionKey))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// call performs one request and decodes a 200 answer into out. secrets are the
// call's credentials; they are scrubbed from anything that reaches an error.
func (c *Client) call(ctx context.Context, op, method, path string, query url.Values, body, out any, secrets ...string) (err error) {
	start := time.Now()
	defer func() { c.observed(op, start, err) }()
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("wechat %s: encode request: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		// The parse error would quote the URL with its query; the base alone
		// is what is wrong and carries no credential.
		return fmt.Errorf("wechat %s: invalid base URL %q", op, c.base)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")

	resp, err := c.hc.Do(req)
	if err != nil {
		return transportError(op, err, secrets)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drained so the connection can be reused; the body is not quoted
		// because a proxy page may echo the request.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return unavailable(op, fmt.Sprintf("HTTP status %d", resp.StatusCode))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return transportError(op, err, secrets)
	}
	if len(raw) > maxBody {
		return unavailable(op, "response body too large")
	}

	// Success bodies of some endpoints carry no errcode at all; missing is 0.
	// Content-Type is not checked: WeChat does not document it.
	var env struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	// Decoder errors are not quoted: they may contain fragments of the body.
	if err := json.Unmarshal(raw, &env); err != nil {
		return unavailable(op, "unparsable response body")
	}
	if env.ErrCode != 0 {
		return fmt.Errorf("wechat %s: %w", op, &APIError{Code: env.ErrCode, Msg: scrub(env.ErrMsg, secrets)})
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return unavailable(op, "unparsable response body")
	}
	return nil
}
