package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The mini-program SDK (web/sdk) is tested with node's test runner and a wx
// shim against real instances of the server and the fake WeChat.
func TestSDK(t *testing.T) {
	t.Parallel()
	nodeBin := node(t)
	b := setup(t)
	srvs := []string{b.srv.URL, b.startInstance().URL, b.startInstance().URL}
	tt := b.createTenant("sdk", nil)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "--test", "--test-reporter=spec",
		"../../web/sdk/test/sdk.test.js", "../../web/sdk/test/readme.test.js")
	cmd.Env = append(os.Environ(),
		"MINIAUTH_URLS="+strings.Join(srvs, ","),
		"WXFAKE_URL="+b.cfg.WeChatBaseURL,
		"MINIAUTH_TENANT="+tt.Slug,
		"MINIAUTH_APPID="+tt.AppID,
		"MINIAUTH_API_KEY="+b.apiKey,
	)
	out, err := cmd.CombinedOutput()
	t.Log("node --test:\n" + string(out))
	if err != nil {
		t.Fatalf("the SDK's tests failed: %v", err)
	}
}
