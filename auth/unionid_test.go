package auth

import (
	"strings"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat"
)

// TestMalformedSession: a jscode2session answer is used only when each
// field has the shape of what WeChat issues.
func TestMalformedSession(t *testing.T) {
	t.Parallel()
	const openID, unionID, key = "oGZUI0egBJY1zhBYw2KhdUfwVJJE", "ocMvos6NjeKLIBqg5Mr9QjxrP1FA", "tiihtNczf5v6AKRyjwEUhQ=="
	for _, tc := range []struct {
		name string
		ws   wechat.Session
		want string
	}{
		{"well formed", wechat.Session{OpenID: openID, UnionID: unionID, SessionKey: key}, ""},
		{"no unionid", wechat.Session{OpenID: openID, SessionKey: key}, ""},
		{"openid with NUL", wechat.Session{OpenID: "o\x00", SessionKey: key}, "openid"},
		{"openid in invalid UTF-8", wechat.Session{OpenID: "o\xff", SessionKey: key}, "openid"},
		{"openid of U+FFFD", wechat.Session{OpenID: "o\ufffd", SessionKey: key}, "openid"},
		{"openid of 65 characters", wechat.Session{OpenID: strings.Repeat("o", 65), SessionKey: key}, "openid"},
		{"openid with a quote", wechat.Session{OpenID: "o'1", SessionKey: key}, "openid"},
		{"unionid with a space", wechat.Session{OpenID: openID, UnionID: "u 1", SessionKey: key}, "unionid"},
		{"session_key not base64", wechat.Session{OpenID: openID, SessionKey: "!!!!!!!!!!!!!!!!!!!!!!!!"}, "session_key"},
		{"session_key of 32 bytes", wechat.Session{OpenID: openID, SessionKey: strings.Repeat("A", 43) + "="}, "session_key"},
		{"session_key without padding", wechat.Session{OpenID: openID, SessionKey: strings.TrimRight(key, "=")}, "session_key"},
		{"session_key with unused bits set", wechat.Session{OpenID: openID, SessionKey: "tiihtNczf5v6AKRyjwEUhR=="}, "session_key"},
	} {
		if got := malformedSession(tc.ws); got != tc.want {
			t.Errorf("%s: malformedSession = %q, want %q", tc.name, got, tc.want)
		}
	}
}
