package auth

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/auth/wechat"
)

// afterReset runs then after each successful resetusersessionkey answer,
// before the caller sees it.
type afterReset struct {
	WeChat
	then func()
}

func (a afterReset) ResetSessionKey(ctx context.Context, token, openID, key string) (wechat.Session, error) {
	ws, err := a.WeChat.ResetSessionKey(ctx, token, openID, key)
	if err == nil {
		a.then()
	}
	return ws, err
}

// A login that stores a newer session_key while a reset is under way keeps
// it: the reset writes only over the key it was signed with.
func TestResetSessionKeyKeepsANewerLogin(t *testing.T) {
	t.Parallel()
	var then func()
	sb := setupService(t, func(d *Deps) { d.WeChat = afterReset{WeChat: d.WeChat, then: func() { then() }} })
	rt := sb.miniProgram(t)
	user := uuid.MustParse(sb.login(t, rt, "alice", "203.0.113.1").User.ID)
	then = func() { sb.login(t, rt, "alice", "203.0.113.1") }

	if _, err := sb.svc.ResetSessionKey(context.Background(), rt, user); err != nil {
		t.Fatalf("ResetSessionKey: %v", err)
	}
	_, stored, err := sb.svc.sessionKey(context.Background(), rt.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	if current, _ := sb.wx.SessionKey(rt.WeChatAppID, "alice"); stored != current {
		t.Fatal("the reset overwrote the session_key of the login made meanwhile")
	}

	// Without a login in between, the reset's key is stored.
	then = func() {}
	if _, err := sb.svc.ResetSessionKey(context.Background(), rt, user); err != nil {
		t.Fatalf("ResetSessionKey: %v", err)
	}
	_, stored, _ = sb.svc.sessionKey(context.Background(), rt.ID, user)
	if current, _ := sb.wx.SessionKey(rt.WeChatAppID, "alice"); stored != current {
		t.Fatal("the reset's session_key was not stored")
	}
}
