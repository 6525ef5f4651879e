package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/seal"
)

// A backup is a copy of the database that leaves the installation: it is
// shipped off-site, kept for months and read by whoever restores it. Without
// the master key it must be worth nothing to an attacker, so a full pg_dump
// of a live installation holds no secret in any form a reader could use:
// the master key, AppSecrets, WeChat session keys and access tokens, the
// tenants' private signing keys (active and retiring), refresh and access
// tokens, QR poll tokens, API keys, console cookies and passwords. Their
// SHA-256 hashes are there by design; only the sealed forms of the rest
// are. The same holds for what Redis keeps, but for the WeChat access
// tokens the instances share.
func TestDumpHoldsNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var secrets dumpSecrets
	secrets.add("master key", b.cfg.MasterKey)
	secrets.token("platform API key", b.apiKey)

	ta := b.createTenant("dump-a", nil) // ES256, the default
	tb := b.createTenant("dump-b", map[string]any{"signing_alg": tenant.AlgEdDSA, "qr_login_page": "pages/qr/index"})
	firstKeys := map[string]tenant.SigningKey{}
	for _, tt := range []testTenant{ta, tb} {
		secrets.token("AppSecret of "+tt.Slug, tt.Secret)
		firstKeys[tt.Slug] = dumpSigningKey(t, b, tt.Slug)
	}

	// Mini-program logins, a refresh (one rotated and one live refresh
	// token), and the session_key WeChat gave each login.
	login := func(tt testTenant, user string) tokens {
		tok := b.login(nil, tt, user)
		secrets.tokens("login of "+user+" to "+tt.Slug, tok)
		key, ok := b.wx.SessionKey(tt.AppID, user)
		if !ok {
			t.Fatalf("WeChat issued %s no session_key in %s", user, tt.Slug)
		}
		secrets.token("session_key of "+user+" in "+tt.Slug, key)
		return tok
	}
	alice := login(ta, "alice")
	login(ta, "carol")
	bob := login(tb, "bob")
	r := wantStatus(t, "refresh", mgmtRefresh(t, b.srv, ta.Slug, alice.RefreshToken), http.StatusOK, "")
	var refreshed tokens
	if err := json.Unmarshal(r.Body, &refreshed); err != nil {
		t.Fatal(err)
	}
	b.remember(refreshed.AccessToken, refreshed.RefreshToken)
	secrets.tokens("refresh of alice", refreshed)

	// The phone number exchange makes the server fetch a WeChat access
	// token, which it caches.
	r = wantStatus(t, "phone", meCall(t, b.srv, ta.Slug, "phone", refreshed.AccessToken,
		map[string]string{"code": b.wx.MintPhoneCode(ta.AppID, "13800138000")}), http.StatusOK, "")
	if r.JSON(t)["phone"] != "13800138000" {
		t.Fatalf("phone: %s", r.Body)
	}

	// Scan to sign in on the web: a poll token, and a web session's tokens.
	q := qrStart(t, b.srv, tb.Slug)
	b.remember(q.PollToken)
	secrets.token("QR poll token", q.PollToken)
	wantStatus(t, "scan", qrAct(t, b.srv, tb.Slug, q.Ticket, "scan", bob.AccessToken), http.StatusOK, "")
	wantStatus(t, "confirm", qrAct(t, b.srv, tb.Slug, q.Ticket, "confirm", bob.AccessToken), http.StatusNoContent, "")
	r = wantStatus(t, "poll after confirm", qrPoll(t, b.srv, tb.Slug, q, ""), http.StatusOK, "")
	var web tokens
	if err := json.Unmarshal(r.Body, &web); err != nil || web.RefreshToken == "" {
		t.Fatalf("poll answer %s (%v)", r.Body, err)
	}
	b.remember(web.AccessToken, web.RefreshToken)
	secrets.tokens("web session of bob", web)

	// An API key, shown once.
	r = wantStatus(t, "create API key", b.api("POST", "/api-keys",
		map[string]any{"name": "dump", "role": "tenant_admin", "tenant": ta.Slug}), http.StatusCreated, "")
	apiKey, _ := r.JSON(t)["key"].(string)
	if !strings.HasPrefix(apiKey, admin.APIKeyPrefix) {
		t.Fatalf("create API key: %s", r.Body)
	}
	b.remember(apiKey)
	secrets.token("API key", apiKey)

	// A console admin, signed in.
	const email, password = "dump-admin@example.com", "dump-console-password-1"
	wantStatus(t, "create console admin", b.api("POST", "/admins", map[string]any{
		"email": email, "password": password, "roles": []map[string]any{{"role": "platform_admin"}},
	}), http.StatusCreated, "")
	cookie := hostileSignIn(t, b, email, password)
	b.remember(password, cookie, admin.CSRFToken(cookie))
	secrets.token("console admin password", password)
	secrets.token("console session cookie", cookie)
	secrets.token("console CSRF token", admin.CSRFToken(cookie))

	// A rotation: each tenant holds an active and a retiring private key,
	// and the new one signs.
	for _, tt := range []testTenant{ta, tb} {
		wantStatus(t, "rotate "+tt.Slug, b.api("POST", "/tenants/"+tt.Slug+"/keys/rotate", nil), http.StatusCreated, "")
		first, second := firstKeys[tt.Slug], dumpSigningKey(t, b, tt.Slug)
		if first.KID == second.KID {
			t.Fatalf("%s: the active key is still %s after the rotation", tt.Slug, first.KID)
		}
		secrets.privateKey(tt.Slug+" retiring signing key ("+first.Alg+")", first.Private)
		secrets.privateKey(tt.Slug+" active signing key ("+second.Alg+")", second.Private)
	}
	live := login(tb, "dave")
	if n := mgmtCount(t, b, `SELECT count(*) FROM signing_keys WHERE private_key_sealed <> '\x'::bytea`); n != 4 {
		t.Fatalf("%d sealed private keys at rest, want 4 (two per tenant)", n)
	}

	// What the fake WeChat issued: AppSecrets, current session keys and the
	// access tokens the server fetched.
	if b.wx.Calls(fake.EndpointStableToken)+b.wx.Calls(fake.EndpointToken) == 0 {
		t.Fatal("the server fetched no WeChat access token")
	}
	for _, s := range b.wx.Secrets() {
		secrets.token(kindIssuedByWeChat, s)
	}

	path := filepath.Join(t.TempDir(), "miniauth.sql")
	command(t, "pg_dump", "--format=plain", "--no-owner", "--file="+path, b.cfg.DatabaseURL)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dump := string(raw)

	// The dump is the installation: its tenants, accounts and the hashes
	// the design keeps. An empty or partial dump would pass the scan below.
	sha := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	for what, want := range map[string]string{
		"the tenants table":                    "COPY public.tenants ",
		"a tenant's slug":                      "\t" + tb.Slug + "\t",
		"an AppID":                             "\t" + ta.AppID + "\t",
		"the admin's email":                    email,
		"the live refresh token's hash":        `\\x` + sha(live.RefreshToken),
		"the web session's refresh hash":       `\\x` + sha(web.RefreshToken),
		"the API key's hash":                   `\\x` + sha(apiKey),
		"the console session's token hash":     `\\x` + sha(cookie),
		"the retiring key's kid of " + ta.Slug: firstKeys[ta.Slug].KID,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("the dump (%d bytes) lacks %s", len(dump), what)
		}
	}

	n := secrets.search(dump, nil, func(s dumpSecret, e dumpEncoding, i int) {
		t.Errorf("%s appears in the dump %s, in %s", s.kind, e.name, dumpLocation(dump, i))
	})

	// Redis, the instances' shared state, holds none of them either. The
	// one credential it keeps is each tenant's WeChat access token, which
	// every instance needs as it is to call WeChat.
	keys, text := redisContents(t, b)
	for _, kind := range []string{":qr:", ":code:", ":wxtoken:", ":rl:"} {
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, kind) }) {
			t.Errorf("Redis holds no %s key of the installation, so the scan below shows nothing: %q", kind, keys)
		}
	}
	issuedByWeChat := func(s dumpSecret) bool { return strings.HasPrefix(s.kind, kindIssuedByWeChat) }
	secrets.search(text, issuedByWeChat, func(s dumpSecret, e dumpEncoding, i int) {
		t.Errorf("%s appears in Redis %s, in key %s", s.kind, e.name, redisKeyAt(text, i))
	})
	t.Logf("%d forms of secrets, %d texts searched in a dump of %d bytes and in %d Redis keys", len(secrets), n, len(dump), len(keys))
}

// kindIssuedByWeChat names what the fake WeChat handed out: AppSecrets and
// session keys are added on their own too, so only its access tokens are
// known by this kind alone.
const kindIssuedByWeChat = "credential issued by WeChat"

// search looks for every form of every secret (but those skip names) in
// text, calling found for each hit, and returns how many texts it
// searched. A text searched once is not searched again: the base64url
// form of a token's decoded bytes is the token, and WeChat's list repeats
// the AppSecrets. The first kind to produce a text names it.
func (secrets dumpSecrets) search(text string, skip func(dumpSecret) bool, found func(dumpSecret, dumpEncoding, int)) int {
	searched := map[string]bool{}
	for _, s := range secrets {
		if len(s.value) < 8 || skip != nil && skip(s) {
			continue
		}
		for _, e := range dumpEncodings(s.value) {
			if searched[e.text] {
				continue
			}
			searched[e.text] = true
			if i := strings.Index(text, e.text); i >= 0 {
				found(s, e, i)
			}
		}
	}
	return len(searched)
}

// redisContents is every key under the bundle's prefix and, as text, each
// key's name followed by its value: a string, a hash's fields and values,
// a list's, set's or sorted set's members.
func redisContents(t *testing.T, b *testBundle) ([]string, string) {
	t.Helper()
	opt, err := redis.ParseURL(b.cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, b.cfg.RedisPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, k := range keys {
		var vals []string
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			vals = []string{rdb.Get(ctx, k).Val()}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				vals = append(vals, f, v)
			}
		case "list":
			vals = rdb.LRange(ctx, k, 0, -1).Val()
		case "set":
			vals = rdb.SMembers(ctx, k).Val()
		case "zset":
			vals = rdb.ZRange(ctx, k, 0, -1).Val()
		case "none": // expired since KEYS
		default:
			t.Errorf("Redis key %s is a %s, which the scan does not read", k, typ)
		}
		fmt.Fprintf(&out, "\nKEY %s\n%s", k, strings.Join(vals, "\n"))
	}
	return keys, out.String()
}

// redisKeyAt names the key whose value holds offset i of redisContents'
// text.
func redisKeyAt(text string, i int) string {
	k := text[strings.LastIndex(text[:i], "\nKEY ")+len("\nKEY "):]
	return k[:strings.IndexByte(k, '\n')]
}

// dumpSigningKey is the tenant's active signing key as the server opens it.
func dumpSigningKey(t *testing.T, b *testBundle, slug string) tenant.SigningKey {
	t.Helper()
	sealer, err := seal.New(b.cfg.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	// A directory of its own, with no cache to be stale: it reads the
	// active key from the database.
	rt, err := tenant.NewDirectory(tenant.NewStore(b.db, sealer, nil), nil).Lookup(context.Background(), slug)
	if err != nil {
		t.Fatalf("tenant %s: %v", slug, err)
	}
	return rt.Signing
}

// dumpSecret is one secret the dump must not hold, in one of its forms.
type dumpSecret struct {
	kind  string // what it is, for the failure message: never the value
	value []byte
}

type dumpSecrets []dumpSecret

func (s *dumpSecrets) add(kind string, value []byte) {
	*s = append(*s, dumpSecret{kind: kind, value: value})
}

// token adds a secret handled as text and, when the text is base64, the
// bytes it stands for: a bytea column would hold those.
func (s *dumpSecrets) token(kind, v string) {
	s.add(kind, []byte(v))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.RawURLEncoding, base64.URLEncoding} {
		if raw, err := enc.DecodeString(v); err == nil {
			s.add(kind+" (decoded)", raw)
			return
		}
	}
}

// tokens adds a login's tokens, and the signature of its access token on
// its own: with it, the public header and claims make the token again.
func (s *dumpSecrets) tokens(kind string, tok tokens) {
	s.token(kind+": access token", tok.AccessToken)
	s.token(kind+": refresh token", tok.RefreshToken)
	if parts := strings.Split(tok.AccessToken, "."); len(parts) == 3 {
		s.token(kind+": access token signature", parts[2])
	}
}

// privateKey adds every form a private key is commonly written in: PKCS #8
// DER and PEM, the raw scalar or seed (a JWK's "d" is its unpadded
// base64url), and for ECDSA SEC 1 DER and PEM and the scalar in decimal.
func (s *dumpSecrets) privateKey(kind string, k crypto.Signer) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	s.add(kind+", PKCS #8 DER", der)
	s.pemLines(kind+", PKCS #8 PEM", "PRIVATE KEY", der)
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			panic(err)
		}
		s.add(kind+", scalar", d)
		s.add(kind+", scalar in decimal", []byte(new(big.Int).SetBytes(d).String()))
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			panic(err)
		}
		s.add(kind+", SEC 1 DER", sec1)
		s.pemLines(kind+", SEC 1 PEM", "EC PRIVATE KEY", sec1)
	case ed25519.PrivateKey:
		s.add(kind+", seed", k.Seed())
		s.add(kind+", seed and public key", k)
	default:
		panic(fmt.Sprintf("private key of type %T", k))
	}
}

// pemLines adds each line of the PEM body: a text column would show a PEM
// block's line breaks as \n, so the block is searched line by line.
func (s *dumpSecrets) pemLines(kind, blockType string, der []byte) {
	text := string(pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}))
	n := 0
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.HasPrefix(line, "-----") {
			continue
		}
		n++
		s.add(fmt.Sprintf("%s line %d", kind, n), []byte(line))
	}
}

// dumpEncoding is how a value may be written in a dump.
type dumpEncoding struct {
	name string
	text string
}

// dumpEncodings are the forms a value may take in a plain dump: as is (a
// text column), hex (a bytea column dumps as \x and lowercase hex; an
// application may write upper case) and base64, standard or
// URL-safe. Base64 is searched without its padding, so padded and
// unpadded text both match.
func dumpEncodings(v []byte) []dumpEncoding {
	return []dumpEncoding{
		{name: "as is", text: string(v)},
		{name: "as hex", text: hex.EncodeToString(v)},
		{name: "as upper-case hex", text: strings.ToUpper(hex.EncodeToString(v))},
		{name: "as standard base64", text: base64.RawStdEncoding.EncodeToString(v)},
		{name: "as base64url", text: base64.RawURLEncoding.EncodeToString(v)},
	}
}

// dumpLocation names where offset i of a plain dump falls: the table and
// column of a COPY block, or the schema part. It never quotes the dump.
func dumpLocation(dump string, i int) string {
	start := strings.LastIndex(dump[:i], "\nCOPY ")
	if start < 0 || strings.Contains(dump[start:i], "\n\\.\n") {
		line := strings.Count(dump[:i], "\n") + 1
		return fmt.Sprintf("the schema, line %d", line)
	}
	header := dump[start+1:]
	header = header[:strings.IndexByte(header, '\n')]
	// COPY public.t (a, b, c) FROM stdin;
	table, cols, _ := strings.Cut(strings.TrimPrefix(header, "COPY "), " (")
	cols, _, _ = strings.Cut(cols, ") FROM")
	names := strings.Split(cols, ", ")
	lineStart := strings.LastIndexByte(dump[:i], '\n') + 1
	col := strings.Count(dump[lineStart:i], "\t")
	if col < len(names) {
		return fmt.Sprintf("table %s, column %s", table, names[col])
	}
	return "table " + table
}
