package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/web"
)

// cursorRead is what cursorParam and uuidCursor make of one ?cursor=.
type cursorRead struct {
	key   string
	err   error
	id    *uuid.UUID
	idErr error
}

func queryCursor(raw string) cursorRead {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/api/v1/tenants?cursor="+url.QueryEscape(raw), nil)
	var r cursorRead
	r.key, r.err = cursorParam(c)
	r.id, r.idErr = uuidCursor(c)
	return r
}

// FuzzCursor: every list's cursor is encodeCursor of a row key (a slug,
// an id), and ?cursor= gives the key back. A cursor that decodes holds a
// key of 1-200 bytes of text; anything else, garbage included, is the one
// invalid_request answer, never a panic; a uuid cursor holds a uuid.
func FuzzCursor(f *testing.F) {
	for _, key := range []string{"acme", "tenant-1", "0190a0b0-1111-7000-8000-000000000001", "42", "9223372036854775807",
		"小明", "a\x00b", "\xff\xfe", "", string(make([]byte, 200)), "x" + string(make([]byte, 200))} {
		f.Add(key, *encodeCursor(key))
	}
	for _, raw := range []string{"", "=", "YWNtZQ==", "YWNtZQ", "YWNtZR", "YWNtZQ.", "Y", "****", "%00", "AA\n",
		base64.StdEncoding.EncodeToString([]byte("tenant/1+?")), "MDE5MGEwYjAtMTExMS03MDAwLTgwMDAtMDAwMDAwMDAwMDAx"} {
		f.Add("", raw)
	}
	badCursorProblem := func(err error) bool {
		var p *web.Problem
		return errors.As(err, &p) && p.Status == http.StatusBadRequest && p.Code == "invalid_request"
	}
	f.Fuzz(func(t *testing.T, key, raw string) {
		// decode(encode(key)) == key for every key a list can hand out.
		r := queryCursor(*encodeCursor(key))
		valid := len(key) >= 1 && len(key) <= 200 && web.Text(key)
		switch {
		case valid && (r.err != nil || r.key != key):
			t.Fatalf("cursor of %q decodes to %q, %v", key, r.key, r.err)
		case !valid && key != "" && !badCursorProblem(r.err):
			t.Fatalf("cursor of the key %q, which no list has: %q, %v", key, r.key, r.err)
		}
		if u, perr := uuid.Parse(key); perr == nil && valid {
			if r.idErr != nil || r.id == nil || *r.id != u {
				t.Fatalf("uuid cursor of %q decodes to %v, %v", key, r.id, r.idErr)
			}
		}

		// Garbage never panics; what decodes is a key whose cursor decodes
		// to it again.
		r = queryCursor(raw)
		switch {
		case raw == "":
			if r != (cursorRead{}) {
				t.Fatalf("no cursor: %+v", r)
			}
			return
		case r.err != nil:
			if !badCursorProblem(r.err) || r.key != "" || !badCursorProblem(r.idErr) || r.id != nil {
				t.Fatalf("cursor %q: %+v", raw, r)
			}
			return
		}
		if len(r.key) < 1 || len(r.key) > 200 || !utf8.ValidString(r.key) || !web.Text(r.key) {
			t.Fatalf("cursor %q decodes to %q, not a key", raw, r.key)
		}
		if again := queryCursor(*encodeCursor(r.key)); again.err != nil || again.key != r.key {
			t.Fatalf("cursor %q decodes to %q, whose cursor decodes to %q, %v", raw, r.key, again.key, again.err)
		}
		u, perr := uuid.Parse(r.key)
		switch {
		case perr != nil && (r.idErr == nil || r.id != nil):
			t.Fatalf("cursor %q holds %q, not a uuid, yet uuidCursor = %v, %v", raw, r.key, r.id, r.idErr)
		case perr == nil && (r.idErr != nil || r.id == nil || *r.id != u):
			t.Fatalf("cursor %q holds the uuid %s, uuidCursor = %v, %v", raw, u, r.id, r.idErr)
		}
	})
}
