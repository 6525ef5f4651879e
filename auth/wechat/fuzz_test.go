package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat"
)

// answer is a WeChat that answers every request with one 200 response:
// the body under test, decoded by the real client.
type answer struct {
	contentType string
	body        []byte
}

func (a answer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	h := http.Header{}
	if a.contentType != "" {
		h.Set("Content-Type", a.contentType)
	}
	return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: r}, nil
}

// The credentials of the fuzzed calls: no answer may bring one of them
// into an error.
const (
	fuzzCode        = "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
	fuzzAccessToken = "ACCESS_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz"
	fuzzSessionKey  = "tiihtNczf5v6AKRyjwEUhQ=="
	fuzzOpenID      = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
)

// FuzzClientAnswers feeds one answer body to every endpoint the client
// calls. Each call either fails with ErrUnavailable or an *APIError
// carrying the body's errcode, with no credential of the call in any
// rendering of the error, or succeeds with the fields its endpoint
// promises: openid and session_key, a token and a positive lifetime, a
// phone number, an image that is the body.
func FuzzClientAnswers(f *testing.F) {
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	for _, a := range []struct{ contentType, body string }{
		{"application/json", `{"openid":"` + fuzzOpenID + `","session_key":"` + fuzzSessionKey + `","unionid":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA"}`},
		{"text/plain", `{"openid":"` + fuzzOpenID + `","session_key":"` + fuzzSessionKey + `"}`},
		{"application/json", `{"errcode":40029,"errmsg":"invalid code, rid: 6543a1b2-0c3d4e5f"}`},
		{"application/json", `{"errcode":40163,"errmsg":"code been used, rid: 6543a1b2"}`},
		{"application/json", `{"errcode":-1,"errmsg":"system error"}`},
		{"application/json", `{"errcode":45011,"errmsg":"api minute-quota reach limit"}`},
		{"application/json", `{"errcode":40125,"errmsg":"invalid appsecret ` + secret + `"}`},
		{"application/json", `{"errcode":40001,"errmsg":"invalid credential, access_token is ` + fuzzAccessToken + `"}`},
		{"application/json", `{"errcode":87009,"errmsg":"invalid signature for tiihtNczf5v6AKRyjwEUhQ%3D%3D"}`},
		{"application/json", `{"errcode":40029,"errmsg":"code \u0030a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"}`},
		{"application/json", `{"access_token":"ACCESS","expires_in":7200}`},
		{"application/json", `{"access_token":"ACCESS","expires_in":0}`},
		{"application/json", `{"access_token":"ACCESS","expires_in":-7200}`},
		{"application/json", `{"access_token":"ACCESS","expires_in":9223372036854775807}`},
		{"application/json", `{"access_token":"ACCESS","expires_in":9223372036854775808}`},
		{"application/json", `{"access_token":"ACCESS","expires_in":1e10}`},
		{"application/json", `{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+86 138 0013 8000","purePhoneNumber":"13800138000","countryCode":86,"watermark":{"timestamp":1637744274,"appid":"wx1111111111111111"}}}`},
		{"application/json", `{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","countryCode":"86"}}`},
		{"application/json", `{"errcode":0,"phone_info":{"phoneNumber":"13800138000","countryCode":1e999}}`},
		{"application/json", `{"errcode":0,"phone_info":{"phoneNumber":"13800138000","countryCode":true}}`},
		{"application/json", `{"errcode":0,"phone_info":null}`},
		{"application/json", `{"errcode":0,"errmsg":"ok"}`},
		{"application/json", `{"errcode":0,"errmsg":"ok","openid":"` + fuzzOpenID + `","session_key":"bmV3IHNlc3Npb24ga2V5IQ=="}`},
		{"application/json", `{"errcode":"40029"}`},
		{"application/json", `{"errcode":1e400}`},
		{"application/json", `{"errcode":9223372036854775808}`},
		{"application/json", `{"errcode":40029.5}`},
		{"application/json", `{"errcode":0}xyz`},
		{"application/json", `{"openid":"o\u0000","session_key":"\u0000"}`},
		{"application/json", "{\"openid\":\"o\xff\xfe\",\"session_key\":\"k\"}"},
		{"application/json", "\xef\xbb\xbf{\"errcode\":0}"},
		{"application/json", `null`},
		{"application/json", `[]`},
		{"application/json", `""`},
		{"application/json", ``},
		{"text/html", `<html><body>502 Bad Gateway</body></html>`},
		{"image/png", png},
		{"image/jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF"},
		{"application/json", png},
		{"", ` {"errcode":41030,"errmsg":"invalid page"}`},
		{"image/png", `{"errcode":0}`},
		{"application/octet-stream", "\x00\x00\x00\x00"},
	} {
		f.Add(a.contentType, []byte(a.body))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		c := wechat.New(wechat.DefaultBaseURL, &http.Client{Transport: answer{contentType, body}})
		var env struct {
			ErrCode int `json:"errcode"`
		}
		bodyCode, jsonBody := 0, json.Unmarshal(body, &env) == nil
		if jsonBody {
			bodyCode = env.ErrCode
		}
		// check vets a call's error; it reports whether the call failed.
		check := func(op string, err error, secrets ...string) bool {
			t.Helper()
			if err == nil {
				if jsonBody && bodyCode != 0 {
					t.Fatalf("%s succeeded on an answer with errcode %d: %q", op, bodyCode, body)
				}
				return false
			}
			var ae *wechat.APIError
			switch {
			case errors.As(err, &ae):
				if ae.Code == 0 || ae.Code != bodyCode {
					t.Fatalf("%s: %v, the answer's errcode is %d: %q", op, err, bodyCode, body)
				}
				if (ae.Code == wechat.CodeSystemBusy) != errors.Is(err, wechat.ErrUnavailable) {
					t.Fatalf("%s: errcode %d and errors.Is(ErrUnavailable) = %v", op, ae.Code, errors.Is(err, wechat.ErrUnavailable))
				}
			case !errors.Is(err, wechat.ErrUnavailable):
				t.Fatalf("%s: %v, neither ErrUnavailable nor an *APIError", op, err)
			}
			// Not %#v: a quoted rendering writes an escape such as \ue0a1
			// whose hex digits, with the text after it, can spell any
			// credential made of hex digits that the answer already knew.
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Fatalf("%s: error %q shows the credential %q", op, text, s)
					}
				}
			}
			return true
		}

		if s, err := c.Code2Session(ctx, appID, secret, fuzzCode); !check("Code2Session", err, secret, fuzzCode) &&
			(s.OpenID == "" || s.SessionKey == "") {
			t.Fatalf("Code2Session = %+v without an error", s)
		}
		if tok, err := c.StableToken(ctx, appID, secret, false); !check("StableToken", err, secret) &&
			(tok.Token == "" || tok.ExpiresIn <= 0) {
			t.Fatalf("StableToken = {Token:%q ExpiresIn:%v} without an error", tok.Token, tok.ExpiresIn)
		}
		if p, err := c.PhoneNumber(ctx, fuzzAccessToken, fuzzCode); !check("PhoneNumber", err, fuzzAccessToken, fuzzCode) &&
			p.PhoneNumber == "" {
			t.Fatalf("PhoneNumber = %+v without an error", p)
		}
		check("CheckSession", c.CheckSession(ctx, fuzzAccessToken, fuzzOpenID, fuzzSessionKey),
			fuzzAccessToken, fuzzSessionKey, wechat.SessionSignature(fuzzSessionKey, ""))
		if s, err := c.ResetSessionKey(ctx, fuzzAccessToken, fuzzOpenID, fuzzSessionKey); !check("ResetSessionKey", err,
			fuzzAccessToken, fuzzSessionKey, wechat.SessionSignature(fuzzSessionKey, "")) && (s.OpenID == "" || s.SessionKey == "") {
			t.Fatalf("ResetSessionKey = %+v without an error", s)
		}

		img, err := c.WXACodeUnlimit(ctx, fuzzAccessToken, wechat.WXACodeRequest{Scene: "t=abc"})
		if err != nil {
			var ae *wechat.APIError
			if errors.As(err, &ae) && ae.Code == 0 {
				t.Fatalf("WXACodeUnlimit: an *APIError without an errcode")
			}
			if !errors.As(err, &ae) && !errors.Is(err, wechat.ErrUnavailable) {
				t.Fatalf("WXACodeUnlimit: %v, neither ErrUnavailable nor an *APIError", err)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
				if strings.Contains(text, fuzzAccessToken) {
					t.Fatalf("WXACodeUnlimit: error %q shows the access token", text)
				}
			}
			return
		}
		magic := map[string]string{"image/png": "\x89PNG\r\n\x1a\n", "image/jpeg": "\xff\xd8\xff"}[img.ContentType]
		if magic == "" || !bytes.HasPrefix(img.Data, []byte(magic)) || !bytes.Equal(img.Data, body) {
			t.Fatalf("WXACodeUnlimit = %s image of %q, the answer was %q", img.ContentType, img.Data, body)
		}
	})
}
