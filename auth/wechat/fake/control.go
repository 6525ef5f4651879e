package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Control endpoints let scripts, out-of-process tests and the README demo
// drive cmd/wxfake the way Go tests drive a *Server. They live under /_fake/,
// a prefix WeChat does not use.
func (s *Server) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /_fake/apps", s.ctlAddApp)
	m.HandleFunc("POST /_fake/codes", s.ctlMintCode)
	m.HandleFunc("GET /_fake/code", s.ctlMintCodeText)
	m.HandleFunc("POST /_fake/codes/batch", s.ctlMintCodes)
	m.HandleFunc("POST /_fake/phone-codes", s.ctlMintPhoneCode)
	m.HandleFunc("POST /_fake/encrypted-data", s.ctlEncryptData)
	m.HandleFunc("POST /_fake/signature", s.ctlSignRawData)
	m.HandleFunc("POST /_fake/rotate-session-key", s.ctlRotateSessionKey)
	m.HandleFunc("POST /_fake/faults", s.ctlInject)
	m.HandleFunc("GET /_fake/stats", s.ctlStats)
	m.HandleFunc("GET /_fake/secrets", s.ctlSecrets)
	m.HandleFunc("POST /_fake/reset", s.ctlReset)
}

func (s *Server) ctlAddApp(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID        string   `json:"appid"`
		Secret       string   `json:"secret"`
		OpenPlatform string   `json:"open_platform"`
		Pages        []string `json:"pages"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	if in.AppID == "" || in.Secret == "" {
		ctlError(w, http.StatusBadRequest, "appid and secret are required")
		return
	}
	s.AddApp(in.AppID, in.Secret, in.OpenPlatform)
	if in.Pages != nil {
		s.SetPages(in.AppID, in.Pages)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlMintCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"appid"`
		User  string `json:"user"`
	}
	if !decodeControl(w, r, &in) || !s.ctlCheckApp(w, in.AppID, "user", in.User) {
		return
	}
	ctlJSON(w, http.StatusOK, struct {
		Code    string `json:"code"`
		OpenID  string `json:"openid"`
		UnionID string `json:"unionid,omitempty"`
	}{s.MintCode(in.AppID, in.User), s.OpenID(in.AppID, in.User), s.UnionID(in.AppID, in.User)})
}

// maxBatch bounds one batch of codes.
const maxBatch = 100000

// ctlMintCodes mints one code for each of the users prefix+first ...
// prefix+(first+n-1), in order, for load generators that must not spend
// a request on the fake per login.
func (s *Server) ctlMintCodes(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID  string `json:"appid"`
		Prefix string `json:"user_prefix"`
		First  int    `json:"first"`
		N      int    `json:"n"`
	}
	if !decodeControl(w, r, &in) || !s.ctlCheckApp(w, in.AppID, "user_prefix", in.Prefix) {
		return
	}
	if in.N < 1 || in.N > maxBatch || in.First < 0 {
		ctlError(w, http.StatusBadRequest, fmt.Sprintf("n must be 1 to %d and first not negative", maxBatch))
		return
	}
	codes := make([]string, in.N)
	for i := range codes {
		codes[i] = s.MintCode(in.AppID, in.Prefix+strconv.Itoa(in.First+i))
	}
	ctlJSON(w, http.StatusOK, struct {
		Codes []string `json:"codes"`
	}{codes})
}

// ctlMintCodeText answers the bare code so a demo can write
// CODE=$(curl -s 'localhost:9480/_fake/code?appid=wx1&user=alice').
func (s *Server) ctlMintCodeText(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appID, user := q.Get("appid"), q.Get("user")
	if !s.ctlCheckApp(w, appID, "user", user) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, s.MintCode(appID, user)+"\n")
}

func (s *Server) ctlMintPhoneCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"appid"`
		Phone string `json:"phone"`
	}
	if !decodeControl(w, r, &in) || !s.ctlCheckApp(w, in.AppID, "phone", in.Phone) {
		return
	}
	ctlJSON(w, http.StatusOK, struct {
		Code string `json:"code"`
	}{s.MintPhoneCode(in.AppID, in.Phone)})
}

// ctlCheckApp refuses codes for unknown apps: over HTTP a typo in a script
// is likelier than a deliberate cross-app test, and an early 404 is clearer
// than a later 40013.
func (s *Server) ctlCheckApp(w http.ResponseWriter, appID, field, value string) bool {
	if appID == "" || value == "" {
		ctlError(w, http.StatusBadRequest, "appid and "+field+" are required")
		return false
	}
	s.mu.Lock()
	_, ok := s.apps[appID]
	s.mu.Unlock()
	if !ok {
		ctlError(w, http.StatusNotFound, "unknown appid "+appID)
		return false
	}
	return true
}

func (s *Server) ctlInject(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Endpoint   string `json:"endpoint"`
		AppID      string `json:"appid"`
		Errcode    int    `json:"errcode"`
		DelayMS    int64  `json:"delay_ms"`
		HTTPStatus int    `json:"http_status"`
		Garbage    bool   `json:"garbage"`
		Body       string `json:"body"`
		Times      int    `json:"times"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	f := Fault{
		Endpoint:   in.Endpoint,
		AppID:      in.AppID,
		Errcode:    in.Errcode,
		Delay:      time.Duration(in.DelayMS) * time.Millisecond,
		HTTPStatus: in.HTTPStatus,
		Garbage:    in.Garbage,
		Body:       in.Body,
		Times:      in.Times,
	}
	if err := f.validate(); err != nil {
		ctlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.inject(f)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlStats(w http.ResponseWriter, r *http.Request) {
	ctlJSON(w, http.StatusOK, s.stats())
}

// ctlSecrets lists what Secrets does, so a test of a server run out of
// process can search the server's logs and data for them.
func (s *Server) ctlSecrets(w http.ResponseWriter, r *http.Request) {
	ctlJSON(w, http.StatusOK, struct {
		Secrets []string `json:"secrets"`
	}{s.Secrets()})
}

func (s *Server) ctlReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

// decodeControl rejects unknown fields: a misspelt "app_id" in a script
// should fail loudly, not register an app without an id.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			ctlError(w, http.StatusRequestEntityTooLarge, "body too large")
			return false
		}
		ctlError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func ctlError(w http.ResponseWriter, status int, msg string) {
	ctlJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

func ctlJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
