package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
	"github.com/miniauth/miniauth/tenant/seal"
)

// Fuzz targets for what clients send the mini-program API: access and
// refresh tokens, encrypted data and rawData signatures, and what
// operators send as ban targets. The seeds under testdata/fuzz/ are
// deterministic: the keys below are derived from fixed seeds and the token
// clock is fixed, so a token in a corpus file means the same on every run
// and in every fuzzing worker.

// fuzzNow is the clock of the fuzzed tokens and bans.
var fuzzNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const fuzzPublicURL = "https://auth.example.com"

// fuzzSigner is a key pair derived from a name, the same on every run.
type fuzzSigner struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func newFuzzSigner(tb testing.TB, alg, name string) fuzzSigner {
	tb.Helper()
	seed := sha256.Sum256([]byte("miniauth fuzz key " + name))
	var priv crypto.Signer
	switch alg {
	case tenant.AlgES256:
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
		if err != nil {
			tb.Fatal(err)
		}
		priv = k
	case tenant.AlgEdDSA:
		priv = ed25519.NewKeyFromSeed(seed[:])
	}
	return fuzzSigner{kid: tenant.Thumbprint(priv.Public()), alg: alg, priv: priv}
}

// compactJWS signs header and claims as they are given, deterministically
// (Ed25519, RFC 6979 ECDSA, HMAC), so that hostile tokens can be made
// with any header and any claims. key is a crypto.Signer, an HMAC secret
// ([]byte) or nil for an empty signature.
func compactJWS(tb testing.TB, header map[string]any, claims any, key any) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	switch k := key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256([]byte(input))
		der, err := k.Sign(nil, digest[:], crypto.SHA256) // nil: RFC 6979, deterministic
		if err != nil {
			tb.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			tb.Fatal(err)
		}
		sig = append(rs.R.FillBytes(make([]byte, 32)), rs.S.FillBytes(make([]byte, 32))...)
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case nil:
	default:
		tb.Fatalf("compactJWS: key of type %T", key)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// tokenFixture is two tenants sharing one key ring (so only iss and aud
// keep their tokens apart) and the tokens signed for them that must verify.
type tokenFixture struct {
	tokens      *Tokens
	acme, other *tenant.Runtime
	// signed maps every token that must verify to its tenant and claims.
	signed map[string]signedToken
	// hostile are tokens that must not verify anywhere, most of them
	// signed with a key of the ring.
	hostile []string
}

type signedToken struct {
	slug   string
	claims Claims
}

func newTokenFixture(tb testing.TB) *tokenFixture {
	tb.Helper()
	es := newFuzzSigner(tb, tenant.AlgES256, "active")
	ed := newFuzzSigner(tb, tenant.AlgEdDSA, "retiring")
	retired := newFuzzSigner(tb, tenant.AlgEdDSA, "retired")
	stranger := newFuzzSigner(tb, tenant.AlgEdDSA, "stranger")
	ring := map[string]tenant.VerifyKey{
		es.kid:      {Alg: es.alg, Public: es.priv.Public()},
		ed.kid:      {Alg: ed.alg, Public: ed.priv.Public(), NotAfter: fuzzNow.Add(time.Hour)},
		retired.kid: {Alg: retired.alg, Public: retired.priv.Public(), NotAfter: fuzzNow.Add(-time.Hour)},
	}
	runtime := func(id int64, slug string) *tenant.Runtime {
		return &tenant.Runtime{
			Tenant:  tenant.Tenant{ID: id, Slug: slug, Status: tenant.StatusActive, AccessTTL: 15 * time.Minute},
			Signing: tenant.SigningKey{KID: es.kid, Alg: es.alg, Private: es.priv},
			Verify:  ring,
		}
	}
	fx := &tokenFixture{
		tokens: NewTokens(fuzzPublicURL),
		acme:   runtime(1, "acme"),
		other:  runtime(2, "other-tenant"),
		signed: map[string]signedToken{},
	}
	fx.tokens.now = func() time.Time { return fuzzNow }

	header := func(s fuzzSigner) map[string]any { return map[string]any{"alg": s.alg, "typ": "at+jwt", "kid": s.kid} }
	claims := func(slug, sub, sid string) Claims {
		return Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    fx.tokens.Issuer(slug),
				Subject:   sub,
				Audience:  jwt.ClaimStrings{slug},
				IssuedAt:  jwt.NewNumericDate(fuzzNow.Add(-time.Minute)),
				ExpiresAt: jwt.NewNumericDate(fuzzNow.Add(14 * time.Minute)),
				ID:        "jti-" + sub,
			},
			SID: sid,
		}
	}
	sign := func(slug string, s fuzzSigner, c Claims) string {
		raw := compactJWS(tb, header(s), c, s.priv)
		fx.signed[raw] = signedToken{slug: slug, claims: c}
		return raw
	}
	const (
		u1, s1 = "0190a0b0-1111-7000-8000-000000000001", "0190a0b0-2222-7000-8000-000000000001"
		u2, s2 = "0190a0b0-1111-7000-8000-000000000002", "0190a0b0-2222-7000-8000-000000000002"
		u3, s3 = "0190a0b0-1111-7000-8000-000000000003", "0190a0b0-2222-7000-8000-000000000003"
	)
	first := sign("acme", es, claims("acme", u1, s1))
	sign("acme", ed, claims("acme", u2, s2)) // the retiring key still verifies
	sign("other-tenant", es, claims("other-tenant", u3, s3))
	multi := claims("acme", u1, s1)
	multi.Audience = jwt.ClaimStrings{"acme", "other-tenant"} // iss still names acme alone
	sign("acme", ed, multi)

	// The hand-made tokens have the shape Issue gives: the same header
	// and the same claims.
	issued, err := fx.tokens.Issue(fx.acme, u1, s1)
	if err != nil {
		tb.Fatal(err)
	}
	if a, b := jsonKeys(tb, issued), jsonKeys(tb, first); a != b {
		tb.Fatalf("hand-signed token has %s, Issue gives %s", b, a)
	}
	// A token Issue made for this process verifies too, but it is made
	// anew (random jti) in every process, so it is not a seed.
	if _, err := fx.tokens.Verify(fx.acme, issued); err != nil {
		tb.Fatalf("Verify(Issue()): %v", err)
	}

	good := claims("acme", u1, s1)
	with := func(change func(*Claims)) Claims { c := good; change(&c); return c }
	headerWith := func(s fuzzSigner, k string, v any) map[string]any {
		h := header(s)
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	pkix, err := x509.MarshalPKIXPublicKey(es.priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	jwk := tenant.PublicJWK(es.kid, es.alg, es.priv.Public())
	fx.hostile = []string{
		// alg none and its spellings: no signature at all.
		compactJWS(tb, headerWith(es, "alg", "none"), good, nil),
		compactJWS(tb, headerWith(es, "alg", "None"), good, nil),
		compactJWS(tb, headerWith(es, "alg", "NONE"), good, nil),
		// Key confusion: HMAC keyed with the public key.
		compactJWS(tb, headerWith(es, "alg", "HS256"), good, pkix),
		compactJWS(tb, headerWith(es, "alg", "HS256"), good, []byte(jwk.X)),
		// The right key, the wrong alg for it.
		compactJWS(tb, headerWith(ed, "alg", tenant.AlgES256), good, es.priv),
		compactJWS(tb, headerWith(es, "alg", tenant.AlgEdDSA), good, ed.priv),
		// The header's typ and kid.
		compactJWS(tb, headerWith(ed, "typ", "JWT"), good, ed.priv),
		compactJWS(tb, headerWith(ed, "typ", nil), good, ed.priv),
		compactJWS(tb, headerWith(ed, "typ", []string{"at+jwt"}), good, ed.priv),
		compactJWS(tb, headerWith(ed, "kid", nil), good, ed.priv),
		compactJWS(tb, headerWith(ed, "kid", 7), good, ed.priv),
		compactJWS(tb, header(retired), good, retired.priv),
		compactJWS(tb, headerWith(stranger, "kid", ed.kid), good, stranger.priv),
		compactJWS(tb, header(stranger), good, stranger.priv),
		// Claims, each wrong in one way, with a good signature.
		compactJWS(tb, header(ed), with(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(fuzzNow) }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.ExpiresAt = nil }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(fuzzNow.Add(ClockSkew + time.Second)) }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(fuzzNow.Add(ClockSkew + time.Second)) }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.Subject = "" }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.SID = "" }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.Issuer = fx.tokens.Issuer("other-tenant") }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.Issuer = fx.tokens.Issuer("acme") + "/" }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.Audience = jwt.ClaimStrings{"other-tenant"} }), ed.priv),
		compactJWS(tb, header(ed), with(func(c *Claims) { c.Audience = nil }), ed.priv),
		// Numbers no clock can hold.
		compactJWS(tb, header(ed), map[string]any{"iss": good.Issuer, "aud": "acme", "sub": u1, "sid": s1, "exp": 1e300}, ed.priv),
		compactJWS(tb, header(ed), map[string]any{"iss": good.Issuer, "aud": "acme", "sub": u1, "sid": s1, "exp": json.Number("9223372036854775807")}, ed.priv),
		compactJWS(tb, header(ed), map[string]any{"iss": good.Issuer, "aud": "acme", "sub": u1, "sid": s1, "exp": json.Number("18446744073709551616")}, ed.priv),
		compactJWS(tb, header(ed), map[string]any{"iss": good.Issuer, "aud": "acme", "sub": u1, "sid": s1, "exp": "2030-01-02T04:00:00Z"}, ed.priv),
		compactJWS(tb, header(ed), map[string]any{"iss": good.Issuer, "aud": "acme", "sub": u1, "sid": 1, "exp": good.ExpiresAt}, ed.priv),
	}
	return fx
}

// jsonKeys names the header and claim members of a compact JWS.
func jsonKeys(tb testing.TB, raw string) string {
	tb.Helper()
	parts := strings.Split(raw, ".")
	var out []string
	for _, p := range parts[:2] {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			tb.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			tb.Fatal(err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out = append(out, strings.Join(keys, ","))
	}
	return strings.Join(out, " | ")
}

// FuzzVerifyAccessToken: a token verifies for a tenant only if it is
// exactly one the test signed for that tenant, and then with exactly the
// claims signed; anything else is ErrInvalidToken, never a panic.
func FuzzVerifyAccessToken(f *testing.F) {
	fx := newTokenFixture(f)
	for raw := range fx.signed {
		f.Add(raw)
		// Tampered: the signature's last character, a stray dot, a prefix.
		f.Add(raw[:len(raw)-2] + "AA")
		f.Add(raw[:len(raw)-1] + unusedBitSet(raw[len(raw)-1:]))
		f.Add(raw + ".")
		f.Add("Bearer " + raw)
	}
	for _, raw := range fx.hostile {
		f.Add(raw)
	}
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "e30.e30.", "e30.e30.e30", "\x00", "\xff\xfe", strings.Repeat("A", 4096)} {
		f.Add(s)
	}
	for raw, st := range fx.signed {
		rt := fx.acme
		if st.slug == fx.other.Slug {
			rt = fx.other
		}
		if _, err := fx.tokens.Verify(rt, raw); err != nil {
			f.Fatalf("a token signed for %s does not verify: %v", st.slug, err)
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, rt := range []*tenant.Runtime{fx.acme, fx.other} {
			claims, err := fx.tokens.Verify(rt, raw)
			want, signed := fx.signed[raw]
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("Verify(%s, %q): %v, not ErrInvalidToken", rt.Slug, raw, err)
				}
				if signed && want.slug == rt.Slug {
					t.Fatalf("Verify(%s) refused a token signed for it: %v", rt.Slug, err)
				}
				continue
			}
			if !signed {
				t.Fatalf("Verify(%s, %q) accepted a token the test never signed: %+v", rt.Slug, raw, claims)
			}
			if want.slug != rt.Slug {
				t.Fatalf("Verify(%s) accepted a token signed for %s", rt.Slug, want.slug)
			}
			if err := sameClaims(claims, &want.claims); err != nil {
				t.Fatalf("Verify(%s): %v", rt.Slug, err)
			}
		}
	})
}

// unusedBitSet spells the last character of an 86-character base64url
// segment (64 bytes: an Ed25519 or ES256 signature) with its lowest bit,
// which no byte uses, flipped.
func unusedBitSet(last string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.Index(alphabet, last)
	if i < 0 {
		return last
	}
	return alphabet[i^1 : i^1+1]
}

func sameClaims(got, want *Claims) error {
	date := func(d *jwt.NumericDate) string {
		if d == nil {
			return "none"
		}
		return d.UTC().String()
	}
	switch {
	case got.Issuer != want.Issuer, got.Subject != want.Subject, got.SID != want.SID, got.ID != want.ID,
		!slices.Equal(got.Audience, want.Audience), date(got.ExpiresAt) != date(want.ExpiresAt),
		date(got.IssuedAt) != date(want.IssuedAt), date(got.NotBefore) != date(want.NotBefore):
		return fmt.Errorf("claims %+v, signed %+v", *got, *want)
	}
	return nil
}

// FuzzRefresh: a refresh token is opaque, so anything but the session's
// current token (NUL bytes, invalid UTF-8, any length) is a 400 or
// ErrInvalidRefreshToken, never a store error, and leaves the session's
// current token working.
func FuzzRefresh(f *testing.F) {
	ctx := context.Background()
	db := dbtest.Pool(f)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		f.Fatal(err)
	}
	feed := changestest.New()
	store := tenant.NewStore(db, sealer, feed)
	sessions := newSessions(db, feed, time.Now)
	svc := NewService(Deps{DB: db, Sessions: sessions, Tokens: NewTokens(fuzzPublicURL), Log: slog.New(slog.DiscardHandler)})
	ten, err := store.Create(ctx, tenant.NewTenant{Slug: "fuzz-refresh", Name: "Fuzz", WeChatAppID: "wx0000000000000001", WeChatSecret: "app-secret-of-the-fuzz-tenant"})
	if err != nil {
		f.Fatal(err)
	}
	rt, err := tenant.NewDirectory(store, feed).Lookup(ctx, ten.Slug)
	if err != nil {
		f.Fatal(err)
	}
	userID := uuid.Must(uuid.NewV7())
	if _, err := db.Exec(ctx, `INSERT INTO users (tenant_id, id, openid) VALUES ($1, $2, 'o-fuzz')`, rt.ID, userID); err != nil {
		f.Fatal(err)
	}
	var current string
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, current, err = sessions.create(ctx, tx, rt.ID, userID, time.Hour, ClientMeta{})
		return err
	}); err != nil {
		f.Fatal(err)
	}
	sc := &Scope{Tenant: rt}
	// spent are this process's rotated tokens: presenting one is reuse,
	// which rightly revokes the session, so they are not presented again.
	spent := map[string]bool{}

	f.Add(current) // this process's token; another fuzzing process has its own
	f.Add(current[:len(current)-1])
	f.Add(current + "=")
	for _, s := range []string{"", " ", "\x00", "\x00" + strings.Repeat("A", 42), "\xff\xfe\xfd", "A%00B", "' OR 1=1 --",
		strings.Repeat("A", 256), strings.Repeat("A", 257), strings.Repeat("\u00e9", 128), "\u200b" + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if spent[token] {
			return
		}
		resp, err := svc.Refresh(ctx, sc, token, ClientMeta{})
		if token == current {
			if err != nil {
				t.Fatalf("Refresh(current token): %v", err)
			}
			spent[current], current = true, resp.RefreshToken
			return
		}
		var invalid *tenant.ValidationError
		switch {
		case err == nil:
			t.Fatalf("Refresh(%q) rotated a token the session never had", token)
		case errors.As(err, &invalid):
			if token != "" && len(token) <= 256 {
				t.Fatalf("Refresh(%q): a validation error for a token of %d bytes: %v", token, len(token), err)
			}
		case !errors.Is(err, ErrInvalidRefreshToken):
			t.Fatalf("Refresh(%q): %v, want ErrInvalidRefreshToken", token, err)
		}
		// The garbage left the session alone: its token still rotates.
		resp, err = svc.Refresh(ctx, sc, current, ClientMeta{})
		if err != nil {
			t.Fatalf("after Refresh(%q), the current token fails: %v", token, err)
		}
		spent[current], current = true, resp.RefreshToken
	})
}

// FuzzDecryptData: encryptedData and iv as a client sends them, opened
// with WeChat's published session_key. The error is one of the three the
// API maps (400, 409, 403); a success is the watermarked JSON object that
// re-encrypts to exactly the ciphertext sent.
func FuzzDecryptData(f *testing.F) {
	ct, _ := base64.StdEncoding.DecodeString(demoEncrypted)
	flipped := slices.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	f.Add(demoEncrypted, demoIV)
	f.Add(base64.StdEncoding.EncodeToString(flipped), demoIV)
	f.Add(base64.StdEncoding.EncodeToString(ct[:len(ct)-aes.BlockSize]), demoIV)
	f.Add(base64.StdEncoding.EncodeToString(ct[:aes.BlockSize]), demoIV)
	f.Add(demoEncrypted, base64.StdEncoding.EncodeToString(make([]byte, aes.BlockSize)))
	f.Add(demoEncrypted, "r7BXXKkLb8qrSNn05n0qiA") // unpadded base64
	f.Add(strings.TrimRight(demoEncrypted, "="), demoIV)
	f.Add(base64.RawURLEncoding.EncodeToString(ct), demoIV)
	f.Add("", "")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==", "\x00")
	f.Add(strings.Repeat("A", maxEncrypted+4), demoIV)
	f.Add(demoEncrypted+"\n", demoIV+"\xff")
	f.Fuzz(func(t *testing.T, encryptedData, iv string) {
		plain, err := DecryptData(demoSessionKey, encryptedData, iv, demoAppID)
		if err != nil {
			var invalid *tenant.ValidationError
			if !errors.As(err, &invalid) && !errors.Is(err, ErrSessionKeyStale) && !errors.Is(err, ErrForeignData) {
				t.Fatalf("DecryptData: %v, none of the errors the API maps", err)
			}
			return
		}
		checkWatermarked(t, plain)
		ivb, _ := base64.StdEncoding.DecodeString(iv)
		sent, _ := base64.StdEncoding.DecodeString(encryptedData)
		if again := encryptDemo(t, ivb, pkcs7(plain)); !bytes.Equal(again, sent) {
			t.Fatalf("the plaintext DecryptData returned encrypts to %x, the client sent %x", again, sent)
		}
	})
}

// FuzzDecryptDataPlaintext: whatever the right key opens to. With PKCS#7
// padding, the plaintext comes back unchanged exactly when it is a JSON
// object watermarked with the app's AppID; a plaintext that is JSON is
// never blamed on the key. Without padding (raw blocks), success means
// the padding stripped was well-formed.
func FuzzDecryptDataPlaintext(f *testing.F) {
	good := `{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","watermark":{"timestamp":1477314187,"appid":"` + demoAppID + `"}}`
	f.Add([]byte(good), true)
	f.Add([]byte(" \n"+good+"\t"), true)
	f.Add([]byte(`{"watermark":{"appid":"wx0000000000000000"}}`), true)
	f.Add([]byte(`{"watermark":null}`), true)
	f.Add([]byte(`{"watermark":{"appid":"`+demoAppID+`"},"watermark":{"appid":"wx0000000000000000"}}`), true)
	f.Add([]byte(`[{"watermark":{"appid":"`+demoAppID+`"}}]`), true)
	f.Add([]byte(`"`+demoAppID+`"`), true)
	f.Add([]byte(`{"watermark":{"appid":"`+demoAppID+"\x00"+`"}}`), true)
	f.Add([]byte(`{"watermark":{"appid":"`+demoAppID+`"},"n":1e999999}`), true)
	f.Add([]byte{}, true)
	f.Add([]byte("\xff\xfe\xfd"), true)
	f.Add(pkcs7([]byte(good)), false)
	f.Add(append([]byte(good[:16]), bytes.Repeat([]byte{16}, 16)...), false)
	f.Add(bytes.Repeat([]byte{0}, aes.BlockSize), false)
	f.Add(bytes.Repeat([]byte{17}, aes.BlockSize), false)
	iv, _ := base64.StdEncoding.DecodeString(demoIV)
	f.Fuzz(func(t *testing.T, plaintext []byte, pad bool) {
		blocks := plaintext
		if pad {
			blocks = pkcs7(plaintext)
		}
		if len(blocks) == 0 || len(blocks)%aes.BlockSize != 0 || base64.StdEncoding.EncodedLen(len(blocks)) > maxEncrypted {
			return
		}
		ct := base64.StdEncoding.EncodeToString(encryptDemo(t, iv, blocks))
		out, err := DecryptData(demoSessionKey, ct, demoIV, demoAppID)
		var invalid *tenant.ValidationError
		switch {
		case errors.As(err, &invalid):
			t.Fatalf("well-formed ciphertext of %d bytes refused as malformed: %v", len(blocks), err)
		case err != nil && !errors.Is(err, ErrSessionKeyStale) && !errors.Is(err, ErrForeignData):
			t.Fatalf("DecryptData: %v, none of the errors the API maps", err)
		case !pad:
			if err == nil {
				n := len(blocks) - len(out)
				if !bytes.HasPrefix(blocks, out) || n < 1 || n > aes.BlockSize || !bytes.Equal(blocks[len(out):], bytes.Repeat([]byte{byte(n)}, n)) {
					t.Fatalf("DecryptData stripped %x from %x", blocks[len(out):], blocks)
				}
				checkWatermarked(t, out)
			}
		case err == nil:
			if !bytes.Equal(out, plaintext) {
				t.Fatalf("DecryptData = %q, encrypted %q", out, plaintext)
			}
			checkWatermarked(t, out)
		case errors.Is(err, ErrSessionKeyStale) && json.Valid(plaintext):
			t.Fatalf("JSON opened with the right key called a stale key: %q", plaintext)
		case errors.Is(err, ErrForeignData) && !json.Valid(plaintext):
			t.Fatalf("a plaintext that is not JSON called foreign data: %q", plaintext)
		case errors.Is(err, ErrForeignData) && isWatermarked(plaintext):
			t.Fatalf("the app's own watermarked object called foreign data: %q", plaintext)
		}
	})
}

// isWatermarked reports whether b is, per the contract, user data WeChat
// issued to the demo app: a JSON object whose watermark.appid is its AppID.
func isWatermarked(b []byte) bool {
	var doc map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil || doc == nil {
		return false
	}
	var wm map[string]json.RawMessage
	if json.Unmarshal(doc["watermark"], &wm) != nil {
		return false
	}
	var appID string
	return json.Unmarshal(wm["appid"], &appID) == nil && appID == demoAppID
}

func checkWatermarked(t *testing.T, plain []byte) {
	t.Helper()
	if !json.Valid(plain) || !isWatermarked(plain) {
		t.Fatalf("DecryptData returned %q, not a JSON object watermarked %s", plain, demoAppID)
	}
}

func encryptDemo(t *testing.T, iv, blocks []byte) []byte {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(demoSessionKey)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(blocks))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, blocks)
	return out
}

// FuzzVerifyRawData: a rawData signature verifies exactly when it is
// hex(sha1(rawData + session_key)), in either case of hex digits.
func FuzzVerifyRawData(f *testing.F) {
	f.Add(docRawData, docSignature)
	f.Add(docRawData, strings.ToUpper(docSignature))
	f.Add(docRawData+" ", docSignature)
	f.Add(docRawData, docSignature[:39])
	f.Add(docRawData, docSignature+"0")
	f.Add(docRawData, strings.Repeat("g", 40))
	f.Add("", docSignature)
	f.Add("\x00", RawDataSignature("\x00", docSessionKey))
	f.Add("\xff", "")
	f.Fuzz(func(t *testing.T, rawData, signature string) {
		want := RawDataSignature(rawData, docSessionKey)
		err := VerifyRawData(rawData, signature, docSessionKey)
		var invalid *tenant.ValidationError
		switch {
		case err == nil:
			if !strings.EqualFold(signature, want) {
				t.Fatalf("VerifyRawData(%q, %q) accepted; the signature is %s", rawData, signature, want)
			}
		case errors.As(err, &invalid):
		case !errors.Is(err, ErrSessionKeyStale):
			t.Fatalf("VerifyRawData: %v", err)
		case strings.EqualFold(signature, want):
			t.Fatalf("VerifyRawData(%q, %q) refused the right signature", rawData, signature)
		}
		if rawData != "" && len(rawData) <= maxEncrypted {
			for _, sig := range []string{want, strings.ToUpper(want)} {
				if err := VerifyRawData(rawData, sig, docSessionKey); err != nil {
					t.Fatalf("VerifyRawData(%q, %s): %v", rawData, sig, err)
				}
			}
		}
	})
}

// FuzzNewBan: a ban that passes the rules is one the store can hold and
// the check applies: its target and reason are text Postgres accepts, an
// IP target is a canonical masked prefix (IPv4-mapped forms as IPv4) that
// refuses the address it was made from and, for one address, nothing else.
func FuzzNewBan(f *testing.F) {
	const uid = "0190a0b0-1111-7000-8000-00000000abcd"
	for _, ip := range []string{"203.0.113.7", "203.0.113.77/24", "::ffff:203.0.113.7", "::ffff:203.0.113.0/120",
		"::ffff:0:0/95", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:db8:1:2:3::/64", "fe80::1%eth0", "0.0.0.0/0", "::/0",
		"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "203.0.113.0/33", "203.0.113.7:80", "01.2.3.4",
		"1.2.3.4/032", " 1.2.3.4", "1.2.3.4\x00", "\xff", "::ffff:1.2.3.4%x", "1.2.3.4/-1", "1.2.3.4/99999999999999999999"} {
		f.Add("", "", ip, "spam")
	}
	f.Add(uid, "", "", "spam")
	f.Add(strings.ToUpper(uid), "", "", "spam")
	f.Add("{"+uid+"}", "", "", "spam")
	f.Add("urn:uuid:"+uid, "", "", "spam")
	f.Add(strings.ReplaceAll(uid, "-", ""), "", "", "spam")
	f.Add("", "oAbCdEfGhIjKlMnOpQrStUvWxYz_", "", "spam")
	f.Add("", strings.Repeat("o", 129), "", "spam")
	f.Add("", "o\x00penid", "", "spam")
	f.Add("", "o\xffpenid", "", "spam")
	f.Add("", "", "203.0.113.7", "sp\x00am")
	f.Add("", "", "203.0.113.7", "\xc3")
	f.Add("", "", "203.0.113.7", strings.Repeat("封", 501))
	f.Add("", "oAbC", "203.0.113.7", "spam")
	f.Fuzz(func(t *testing.T, userID, openID, ip, reason string) {
		n := NewBan{UserID: userID, OpenID: openID, IP: ip, Reason: reason}
		kind, target, err := n.target(1, fuzzNow)
		if err != nil {
			var invalid *tenant.ValidationError
			if !errors.As(err, &invalid) {
				t.Fatalf("target: %v, not a validation error", err)
			}
			if _, _, err := (NewBan{IP: ip, Reason: "spam"}).target(1, fuzzNow); err != nil {
				if target, wide := n.Wide(); target != "" || wide {
					t.Fatalf("Wide(%q) = %q, %v for an ip the rules refuse", ip, target, wide)
				}
			}
			return
		}
		for field, s := range map[string]string{"target": target, "reason": reason} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("a ban with %s %q passed the rules; Postgres text cannot hold it", field, s)
			}
		}
		// The normalised target is its own normal form.
		again := NewBan{Reason: "spam"}
		switch kind {
		case BanIP:
			again.IP = target
			checkIPBan(t, n, target)
		case BanOpenID:
			again.OpenID = target
			if target != openID {
				t.Fatalf("openid %q stored as %q", openID, target)
			}
		case BanUser:
			again.UserID = target
			if id, err := uuid.Parse(userID); err != nil || id.String() != target {
				t.Fatalf("user_id %q stored as %q", userID, target)
			}
		default:
			t.Fatalf("kind %q", kind)
		}
		if k, tg, err := again.target(1, fuzzNow); err != nil || k != kind || tg != target {
			t.Fatalf("target of %q = %q, %q, %v; want it unchanged", target, k, tg, err)
		}
	})
}

func checkIPBan(t *testing.T, n NewBan, target string) {
	t.Helper()
	p, err := netip.ParsePrefix(target)
	if err != nil || p.String() != target || p != p.Masked() {
		t.Fatalf("ip %q stored as %q, not a canonical masked prefix (%v)", n.IP, target, err)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		t.Fatalf("ip %q stored as %q: an IPv4-mapped range matches no client", n.IP, target)
	}
	limit := WideBanBitsIPv6
	if p.Addr().Is4() {
		limit = WideBanBitsIPv4
	}
	if wt, wide := n.Wide(); wt != target || wide != (p.Bits() < limit) {
		t.Fatalf("Wide(%q) = %q, %v; the ban is %q", n.IP, wt, wide, target)
	}

	// The client the ban was made from, as the IP check sees clients: no
	// zone (gin's ClientIP drops zoned addresses). A range wider than the
	// IPv4-mapped block is an IPv6 range, which IPv4 clients never match.
	var client netip.Addr
	if a, err := netip.ParseAddr(n.IP); err == nil {
		client = a.WithZone("")
	} else if pp, err := netip.ParsePrefix(n.IP); err == nil && !(pp.Addr().Is4In6() && pp.Bits() < 96) {
		client = pp.Addr()
	}
	if !client.IsValid() {
		return
	}
	set := newBanSet()
	set.add(BanIP, target, nil, nil)
	view := BanView{sets: [2]*banSet{set}, now: fuzzNow}
	if err := view.Check("", "", client); !isBanned(err) {
		t.Fatalf("a ban of %q (stored %q) does not refuse %s: %v", n.IP, target, client, err)
	}
	if p.IsSingleIP() {
		for _, other := range []netip.Addr{client.Unmap().Next(), client.Unmap().Prev()} {
			if other.IsValid() && view.Check("", "", other) != nil {
				t.Fatalf("a ban of the one address %q refuses %s too", n.IP, other)
			}
		}
	}
}
