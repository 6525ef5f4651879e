package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
)

func TestCredentialsCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	creds := NewCredentials(wechat.New(sb.wxURL, nil), sb.dir)

	right := sb.miniProgram(t)
	wrongSecret := sb.tenant(t)
	sb.wx.AddApp(wrongSecret.WeChatAppID, "another-secret-entirely", "")
	unknownApp := sb.tenant(t) // the fake WeChat has never heard of its AppID
	busy := sb.miniProgram(t)
	sb.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: busy.WeChatAppID, Errcode: -1})
	garbage := sb.miniProgram(t)
	sb.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: garbage.WeChatAppID, Garbage: true})
	limited := sb.miniProgram(t)
	sb.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: limited.WeChatAppID, Errcode: 45011})

	for _, tc := range []struct {
		name string
		rt   *tenant.Runtime
		want CredentialVerdict
	}{
		{"right pair", right, CredentialsAccepted},
		{"wrong secret", wrongSecret, CredentialsWrongSecret},
		{"unknown appid", unknownApp, CredentialsWrongAppID},
		{"system busy", busy, CredentialsUnknown},
		{"garbage answer", garbage, CredentialsUnknown},
		{"another errcode", limited, CredentialsUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := creds.Check(ctx, tc.rt.Slug)
			if err != nil || got != tc.want {
				t.Fatalf("Check = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	t.Run("the secret given last counts", func(t *testing.T) {
		secret := "another-secret-entirely"
		if _, err := sb.tenants.Update(ctx, wrongSecret.Slug, tenant.Patch{WeChatSecret: &secret}); err != nil {
			t.Fatal(err)
		}
		if got, err := creds.Check(ctx, wrongSecret.Slug); err != nil || got != CredentialsAccepted {
			t.Fatalf("Check after fixing the secret = %q, %v", got, err)
		}
	})

	t.Run("unknown tenant", func(t *testing.T) {
		if _, err := creds.Check(ctx, "no-such-tenant"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Check = %v, want ErrNotFound", err)
		}
	})

	t.Run("no code is spent", func(t *testing.T) {
		code := sb.wx.MintCode(right.WeChatAppID, "alice")
		if _, err := creds.Check(ctx, right.Slug); err != nil {
			t.Fatal(err)
		}
		if _, err := wechat.New(sb.wxURL, nil).Code2Session(ctx, right.WeChatAppID, right.Secret, code); err != nil {
			t.Fatalf("a real code after a check: %v", err)
		}
	})
}
