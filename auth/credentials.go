package auth

import (
	"context"
	"errors"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// CredentialVerdict is what WeChat said of a tenant's AppID and AppSecret.
type CredentialVerdict string

const (
	// CredentialsAccepted: WeChat took the pair and only refused the code.
	CredentialsAccepted CredentialVerdict = "accepted"
	// CredentialsWrongAppID: WeChat knows no mini-program by this AppID.
	CredentialsWrongAppID CredentialVerdict = "wrong_appid"
	// CredentialsWrongSecret: the AppSecret is not this AppID's.
	CredentialsWrongSecret CredentialVerdict = "wrong_secret"
	// CredentialsUnknown: WeChat gave no answer that tells either way.
	CredentialsUnknown CredentialVerdict = "unknown"
)

// probeCode is a login code no wx.login ever returns. WeChat checks the
// AppID and AppSecret before the code, so its refusal of the code
// (40029) proves the pair right without spending anything.
const probeCode = "miniauth-credential-check"

// CodeExchanger is the part of the WeChat API a credential check calls.
type CodeExchanger interface {
	Code2Session(ctx context.Context, appID, secret, code string) (wechat.Session, error)
}

// Credentials checks tenants' WeChat AppID/AppSecret pairs with WeChat.
type Credentials struct {
	wx      CodeExchanger
	tenants *tenant.Directory
}

// NewCredentials returns a checker that opens each tenant's AppSecret
// through the directory.
func NewCredentials(wx CodeExchanger, tenants *tenant.Directory) *Credentials {
	return &Credentials{wx: wx, tenants: tenants}
}

// Check asks WeChat whether the tenant's stored AppID and AppSecret are a
// pair, with a login code WeChat cannot know. It returns tenant.ErrNotFound
// for an unknown slug; WeChat's failures are a verdict, not an error.
func (c *Credentials) Check(ctx context.Context, slug string) (CredentialVerdict, error) {
	rt, err := c.tenants.Lookup(ctx, slug)
	if err != nil {
		return "", err
	}
	_, err = c.wx.Code2Session(ctx, rt.WeChatAppID, rt.Secret, probeCode)
	return judgeCredentials(err), nil
}

// judgeCredentials reads the answer to a jscode2session call made with a
// code WeChat cannot know: 40029 (invalid code) means the pair passed,
// 40013 and 40125 name the wrong half, anything else tells nothing.
func judgeCredentials(err error) CredentialVerdict {
	var ae *wechat.APIError
	switch {
	case err == nil:
		// WeChat exchanged the code after all: the pair is certainly right.
		return CredentialsAccepted
	case !errors.As(err, &ae):
		return CredentialsUnknown
	case ae.Code == wechat.CodeInvalidCode:
		return CredentialsAccepted
	case ae.Code == wechat.CodeInvalidAppID:
		return CredentialsWrongAppID
	case ae.Code == wechat.CodeInvalidSecret:
		return CredentialsWrongSecret
	}
	return CredentialsUnknown
}
