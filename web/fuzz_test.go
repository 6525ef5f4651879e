package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web"
)

// fuzzRequest has a field of each kind the request bodies use.
type fuzzRequest struct {
	Code       string             `json:"code"`
	All        bool               `json:"all"`
	Count      int                `json:"count"`
	TTL        int64              `json:"access_ttl_seconds"`
	Nickname   *string            `json:"nickname"`
	ExpiresAt  *time.Time         `json:"expires_at"`
	RateLimits map[string]*string `json:"rate_limits"`
	Tags       []string           `json:"tags"`
	Inner      struct {
		Name string `json:"name"`
	} `json:"inner"`
}

// FuzzDecodeJSON: a body is either refused with a 400 (or a 413 past
// MaxBodyBytes) problem, or it is one JSON value whose every string can be
// stored as Postgres text, and which decodes to the same request again
// once re-encoded. A NUL refusal names the field that holds the NUL.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"code":"081Kq4Ga1MSox41ufAHa1Ho0Kq4Kq4GQ"}`,
		`{"all":true}`,
		`{"nickname":"小明","expires_at":"2030-01-02T03:04:05+08:00","rate_limits":{"login_per_ip":"20-M","api_per_user":null}}`,
		`{"tags":["a","b"],"inner":{"name":"n"},"count":-1,"access_ttl_seconds":900}`,
		` {"code":"x"} `,
		`{"code":"x"}{"code":"y"}`,
		`{"code":"x"}]`,
		`{"code":"x"`,
		`{"Code":"case-insensitive match"}`,
		`{"code":"x","code":"y"}`,
		`{"cod":"typo"}`,
		`{"":1}`,
		`{"code":1}`,
		`{"inner":{"name":1}}`,
		`{"tags":[1]}`,
		`{"count":1e400}`,
		`{"count":9223372036854775808}`,
		`{"access_ttl_seconds":-9223372036854775809}`,
		`{"count":1.5}`,
		`{"expires_at":"not a time"}`,
		`{"expires_at":"10000-01-01T00:00:00Z"}`,
		`{"code":"a\u0000b"}`,
		`{"code":"a\\u0000b"}`,
		`{"rate_limits":{"login\u0000per_ip":"20-M"}}`,
		`{"tags":["ok","\u0000"]}`,
		"{\"code\":\"a\x00b\"}",
		"{\"code\":\"\xff\xfe\"}",
		`{"code":"\ud800"}`,
		"\xef\xbb\xbf{}",
		`[]`, `null`, `"code"`, `1`, `{}`, ``, ` `, "\n\t",
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		f.Add([]byte(s))
	}
	f.Add(append(append([]byte(`{"code":"`), bytes.Repeat([]byte("a"), web.MaxBodyBytes)...), `"}`...))
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst fuzzRequest
		err := decodeRequest(body, &dst)
		if err != nil {
			var p *web.Problem
			if !errors.As(err, &p) {
				t.Fatalf("DecodeJSON: %v, not a *web.Problem", err)
			}
			want, code := http.StatusBadRequest, "invalid_request"
			if len(body) > web.MaxBodyBytes {
				want, code = http.StatusRequestEntityTooLarge, "request_too_large"
			}
			if p.Status != want || p.Code != code {
				t.Fatalf("DecodeJSON of %d bytes: %d %s, want %d %s", len(body), p.Status, p.Code, want, code)
			}
			for _, fe := range p.Errors {
				if strings.Contains(fe.Message, "NUL") && fe.Field == "" {
					t.Fatalf("DecodeJSON(%q) refused a NUL without naming a field that holds one", body)
				}
			}
			if _, err := json.Marshal(p); err != nil {
				t.Fatalf("the problem does not encode: %v", err)
			}
			return
		}
		if len(body) > web.MaxBodyBytes || !json.Valid(body) {
			t.Fatalf("DecodeJSON accepted %d bytes that are not one JSON value within the limit: %q", len(body), body)
		}
		if s, ok := unstorable(reflect.ValueOf(dst)); ok {
			t.Fatalf("DecodeJSON(%q) accepted the string %q, which Postgres text cannot hold", body, s)
		}
		again, err := json.Marshal(dst)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", dst, err)
		}
		var dst2 fuzzRequest
		if err := web.DecodeJSONBytes(again, &dst2); err != nil {
			t.Fatalf("DecodeJSON(%q) = %+v, whose encoding %s is refused: %v", body, dst, again, err)
		}
		if twice, _ := json.Marshal(dst2); !bytes.Equal(twice, again) {
			t.Fatalf("decoding %s gave %s", again, twice)
		}
	})
}

// decodeRequest runs DecodeJSON on a request carrying body.
func decodeRequest(body []byte, dst any) error {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/v1/t/acme/login", bytes.NewReader(body))
	return web.DecodeJSON(c, dst)
}

// unstorable finds a string (or map key) in v that is not valid UTF-8 or
// holds a NUL.
func unstorable(v reflect.Value) (string, bool) {
	bad := func(s string) bool { return !utf8.ValidString(s) || strings.ContainsRune(s, 0) }
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return unstorable(v.Elem())
		}
	case reflect.String:
		if bad(v.String()) {
			return v.String(), true
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return "", false
		}
		for i := range v.NumField() {
			if s, ok := unstorable(v.Field(i)); ok {
				return s, true
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if bad(k.String()) {
				return k.String(), true
			}
			if s, ok := unstorable(v.MapIndex(k)); ok {
				return s, true
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if s, ok := unstorable(v.Index(i)); ok {
				return s, true
			}
		}
	}
	return "", false
}
