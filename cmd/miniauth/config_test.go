package main

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"DATABASE_URL":        "postgres://postgres@127.0.0.1:5432/miniauth",
		"REDIS_URL":           "redis://127.0.0.1:6379/0",
		"MINIAUTH_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	env := func(overrides map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := overrides[k]; ok {
				return v
			}
			return valid[k]
		}
	}

	t.Run("defaults", func(t *testing.T) {
		c, err := loadConfig(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != ":8080" || c.PublicURL != "http://localhost:8080" || c.WeChatBaseURL != "https://api.weixin.qq.com" ||
			c.WeChatTimeout.Seconds() != 5 || c.RedisPrefix != "miniauth:" || len(c.MasterKey) != 32 || c.TrustedProxies != nil {
			t.Fatalf("defaults: %+v", c)
		}
	})

	t.Run("values", func(t *testing.T) {
		c, err := loadConfig(env(map[string]string{
			"MINIAUTH_PUBLIC_URL":      "https://auth.example.com/",
			"MINIAUTH_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
			"REDIS_URL":                "10.0.0.1:7000,10.0.0.2:7000",
			"MINIAUTH_WECHAT_TIMEOUT":  "1500ms",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if c.PublicURL != "https://auth.example.com" || len(c.TrustedProxies) != 2 || c.WeChatTimeout.Milliseconds() != 1500 {
			t.Fatalf("values: %+v", c)
		}
		opt, err := redisOptions(c.RedisURL)
		if err != nil || !opt.IsClusterMode || len(opt.Addrs) != 2 {
			t.Fatalf("cluster options: %+v %v", opt, err)
		}
	})

	t.Run("development allows no master key", func(t *testing.T) {
		c, err := loadConfig(env(map[string]string{"MINIAUTH_MASTER_KEY": "", "MINIAUTH_ENV": "development"}))
		if err != nil || len(c.MasterKey) != 32 {
			t.Fatalf("%v %d", err, len(c.MasterKey))
		}
	})

	// Each bad value stops the start with one line naming the variable.
	bad := []struct{ name, value string }{
		{"DATABASE_URL", ""},
		{"DATABASE_URL", "mysql://x"},
		{"REDIS_URL", ""},
		{"REDIS_URL", "redis://[::1"},
		{"MINIAUTH_MASTER_KEY", ""},
		{"MINIAUTH_MASTER_KEY", "not base64!"},
		{"MINIAUTH_MASTER_KEY", "AAECAwQ="},
		{"MINIAUTH_PREVIOUS_MASTER_KEYS", "AAECAwQ="},
		{"MINIAUTH_PUBLIC_URL", "localhost:8080"},
		{"MINIAUTH_WECHAT_BASE_URL", "ftp://x"},
		{"MINIAUTH_WECHAT_TIMEOUT", "forever"},
		{"MINIAUTH_TRUSTED_PROXIES", "10.0.0.0/33"},
		{"MINIAUTH_ENV", "staging"},
		{"MINIAUTH_LOG_LEVEL", "loud"},
	}
	for _, tc := range bad {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := loadConfig(env(map[string]string{tc.name: tc.value}))
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.name) || strings.Contains(msg, "\n") {
				t.Fatalf("error should be one line naming %s: %q", tc.name, msg)
			}
		})
	}
}
