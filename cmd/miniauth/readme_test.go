package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the fenced code block after marker in README.md.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- "+marker+" -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s --> block", marker)
	}
	_, rest, _ = strings.Cut(rest, "```js\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("README.md: the %s block is not a closed js block", marker)
	}
	return block
}

// node is the path of the node binary; CI must have it.
func node(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is required in CI (apt-get install nodejs)")
		}
		t.Skip("node is not installed")
	}
	return p
}

// The README's scan-to-sign-in example runs as written: a browser-side
// script signs in while the test scans and confirms as a mini-program user.
func TestQRLoginReadmeExample(t *testing.T) {
	t.Parallel()
	nodeBin := node(t)
	b := setup(t)
	tt := b.createTenant("readme-qr", nil)
	alice := b.login(nil, tt, "alice")

	block := readmeBlock(t, "qr-login-example")
	for _, c := range []struct{ from, to string }{
		{`const MINIAUTH = "http://localhost:8080";`, `const MINIAUTH = "` + b.srv.URL + `";`},
		{`const TENANT = "demo";`, `const TENANT = "` + tt.Slug + `";`},
	} {
		if !strings.Contains(block, c.from) {
			t.Fatalf("the README example no longer has %s", c.from)
		}
		block = strings.Replace(block, c.from, c.to, 1)
	}
	script := block + `
signInByScan((url) => console.log("IMAGE " + url))
  .then((t) => console.log("RESULT " + JSON.stringify(t)))
  .catch((e) => { console.log("ERROR " + e.message); process.exit(1); });
`
	path := filepath.Join(t.TempDir(), "example.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var result string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		t.Log("node: " + line)
		switch {
		case strings.HasPrefix(line, "IMAGE "):
			url := strings.TrimPrefix(line, "IMAGE ")
			ticket := strings.TrimSuffix(url[strings.Index(url, "/qr-login/")+len("/qr-login/"):], "/image")
			time.Sleep(200 * time.Millisecond) // let the page start waiting
			wantStatus(t, "scan", qrAct(t, b.srv, tt.Slug, ticket, "scan", alice.AccessToken), http.StatusOK, "")
			wantStatus(t, "confirm", qrAct(t, b.srv, tt.Slug, ticket, "confirm", alice.AccessToken), http.StatusNoContent, "")
		case strings.HasPrefix(line, "RESULT "):
			result = strings.TrimPrefix(line, "RESULT ")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node: %v", err)
	}
	var got tokens
	if err := json.Unmarshal([]byte(result), &got); err != nil || got.AccessToken == "" || got.User.ID != alice.User.ID {
		t.Fatalf("the example returned %q (%v), want alice's tokens", result, err)
	}
}
