package console_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

//go:embed testdata/axe.min.js
var axeSource string

// chromium finds Debian's Chromium. In CI a missing browser fails the
// run; elsewhere the browser tests are skipped with the install command.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is required for the console's browser tests: apt-get install -y chromium")
	}
	t.Skip("no Chromium: install it with `apt-get install -y chromium` to run the console's browser tests")
	return ""
}

// browser is one headless Chromium tab against a bundle's server.
type browser struct {
	t   *testing.T
	b   *testBundle
	ctx context.Context

	mu    sync.Mutex
	asked []string // the confirmations accepted so far
}

// confirmed is the last confirmation the page asked for.
func (br *browser) confirmed() string {
	br.mu.Lock()
	defer br.mu.Unlock()
	if len(br.asked) == 0 {
		return ""
	}
	return br.asked[len(br.asked)-1]
}

// newBrowser starts a private headless Chromium (its own profile, no
// network beyond loopback) with a desktop-sized window.
func newBrowser(t *testing.T, b *testBundle) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "en-US"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	br := &browser{t: t, b: b, ctx: ctx}
	// Confirmations (data-confirm) are accepted, as the admin would; the
	// questions asked are kept for the test to check.
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			br.mu.Lock()
			br.asked = append(br.asked, ev.Message)
			br.mu.Unlock()
			_, _ = chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return br
}

// do runs actions, failing the test on error.
func (br *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	ctx, cancel := context.WithTimeout(br.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(br.ctx, chromedp.Location())
		br.t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// value runs one action that returns a value.
func value[T any](br *browser, what string, a chromedp.Action[T]) T {
	br.t.Helper()
	ctx, cancel := context.WithTimeout(br.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(br.ctx, chromedp.Location())
		br.t.Fatalf("%s (at %s): %v", what, loc, err)
	}
	return v
}

// tid is the selector of a data-testid.
func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// open navigates to a console path and waits for the page.
func (br *browser) open(path string) {
	br.t.Helper()
	br.do("open "+path, chromedp.Navigate(br.b.URL+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// text is the visible text of the first element with this data-testid.
func (br *browser) text(id string) string {
	br.t.Helper()
	return strings.TrimSpace(value(br, "read "+id, chromedp.Text(tid(id), chromedp.NodeVisible)))
}

// fill types into a field, replacing what is there.
func (br *browser) fill(id, v string) {
	br.t.Helper()
	br.do("fill "+id, chromedp.Clear(tid(id)), chromedp.SendKeys(tid(id), v))
}

// click clicks an element and waits for what it started to finish: the
// next page, or the htmx request.
func (br *browser) click(id string) {
	br.t.Helper()
	br.arm()
	br.do("click "+id, chromedp.Click(tid(id), chromedp.NodeVisible))
	br.settle()
}

// arm marks the current document, so settle can tell a new page from the
// old one still showing while its successor loads (beforeunload fires
// when a navigation starts).
func (br *browser) arm() {
	br.t.Helper()
	value(br, "arm", chromedp.Evaluate[bool](`window.__miniauthOld = true; window.__miniauthLeaving = false;
		addEventListener("beforeunload", () => { window.__miniauthLeaving = true; }); true`))
}

// settle waits until a new document has loaded, or, when the old one
// stays (an htmx request, a refused click), until it is idle twice in a
// row. Evaluations fail while a navigation swaps documents; they are
// retried.
func (br *browser) settle() {
	br.t.Helper()
	const state = `(!window.__miniauthOld ? "new" : window.__miniauthLeaving ? "leaving" :
		document.querySelector(".htmx-request") ? "busy" : "same") + ":" + document.readyState`
	deadline := time.Now().Add(30 * time.Second)
	idle := 0
	for {
		ctx, cancel := context.WithTimeout(br.ctx, 5*time.Second)
		st, err := chromedp.Run(ctx, chromedp.Evaluate[string](state))
		cancel()
		switch {
		case err == nil && st == "new:complete":
			return
		case err == nil && st == "same:complete":
			if idle++; idle >= 3 {
				return
			}
		default:
			idle = 0
		}
		if time.Now().After(deadline) {
			br.t.Fatalf("the page did not settle within 30s (state %q, err %v)", st, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitFor waits until an element with this data-testid is visible.
func (br *browser) waitFor(id string) {
	br.t.Helper()
	br.do("wait for "+id, chromedp.WaitVisible(tid(id)))
}

// location is the current path and query.
func (br *browser) location() string {
	br.t.Helper()
	return strings.TrimPrefix(value(br, "location", chromedp.Location()), br.b.URL)
}

// signIn signs in through the form.
func (br *browser) signIn(email, password string) {
	br.t.Helper()
	br.open("/admin/login")
	br.fill("field-email", email)
	br.fill("field-password", password)
	br.click("sign-in")
}

// axe runs axe-core on the current page and fails on any serious or
// critical violation.
func (br *browser) axe(screen string) {
	br.t.Helper()
	value(br, "inject axe", chromedp.Evaluate[any](axeSource))
	raw := value(br, "axe "+screen, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))))`,
		chromedp.EvalAwaitPromise))
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		br.t.Fatalf("axe result %q: %v", raw, err)
	}
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			br.t.Errorf("%s: accessibility violation %s (%s): %s at %v", screen, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}

// screenshot saves full-page PNGs of the current page at desktop and
// phone width under screenshots/ when CONSOLE_SCREENSHOTS is set (they are
// committed, and the README shows them).
func (br *browser) screenshot(name string) {
	br.t.Helper()
	if os.Getenv("CONSOLE_SCREENSHOTS") == "" {
		return
	}
	for _, size := range []struct {
		suffix string
		width  int64
		opts   []chromedp.EmulateViewportOption
	}{{"desktop", 1280, nil}, {"phone", 375, []chromedp.EmulateViewportOption{chromedp.EmulateMobile}}} {
		br.do("resize", chromedp.EmulateViewport(size.width, 800, size.opts...), chromedp.Sleep(150*time.Millisecond))
		png := value(br, "screenshot "+name, chromedp.FullScreenshot(100))
		file := filepath.Join("screenshots", fmt.Sprintf("%s-%s.png", name, size.suffix))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			br.t.Fatal(err)
		}
	}
	br.do("restore size", chromedp.EmulateReset())
}

// jsString evaluates an expression that yields a string.
func jsString(expr string) chromedp.Action[string] { return chromedp.Evaluate[string](expr) }
