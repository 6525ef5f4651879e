package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/cache"
)

// Claims of an access token (RFC 9068 shape, typ at+jwt).
type Claims struct {
	jwt.RegisteredClaims
	SID string `json:"sid"`
}

// UnmarshalJSON refuses exp, nbf and iat written as strings, which
// jwt.NumericDate takes (a JSON string holding a number decodes into its
// json.Number): RFC 7519 makes them numbers, and every other reader of
// the token would see another type than this verifier did.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return err
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := members[name]; ok && (len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return fmt.Errorf("claim %s is not a number", name)
		}
	}
	type plain Claims
	return json.Unmarshal(b, (*plain)(c))
}

// Tokens issues and verifies access tokens. The issuer of a tenant's tokens
// is {publicURL}/v1/t/{slug}; the audience is the slug, so a token of one
// tenant never verifies for another even before the key lookup.
type Tokens struct {
	publicURL string
	now       func() time.Time

	// verified remembers tokens whose signature and claims checked out, so
	// a client reusing its token pays for the signature check once. An
	// entry is used only for the same tenant, before the token's exp and
	// while the key that signed it may still verify; revocation is checked
	// separately on every request. Nothing a notice says can make a good
	// signature bad, so the cache needs no feed.
	verified *cache.Cache[verifiedKey, *verifiedToken]

	// verifications counts Verify calls by cache (hit, miss) and result
	// (valid, invalid).
	verifications Counter
}

// missKey marks a Verify whose signature check ran (a cache miss).
type missKey struct{}

// verifiedKey is a token as verified against one runtime of its tenant: a
// change to the tenant (a key rotated) makes a new runtime, and its tokens
// are verified afresh.
type verifiedKey struct {
	rt  *tenant.Runtime
	raw string
}

type verifiedToken struct {
	claims *Claims
	kid    string
	exp    time.Time
}

// maxVerified bounds the verified-token cache.
const maxVerified = 50_000

// NewTokens returns a token issuer/verifier for the public base URL.
func NewTokens(publicURL string) *Tokens {
	t := &Tokens{publicURL: publicURL, now: time.Now, verifications: nopCounter{}}
	t.verified = cache.New(cache.Options[verifiedKey]{MaxEntries: maxVerified},
		func(ctx context.Context, k verifiedKey) (*verifiedToken, error) {
			if miss, ok := ctx.Value(missKey{}).(*bool); ok {
				*miss = true
			}
			claims, kid, err := t.verify(k.rt, k.raw)
			if err != nil {
				return nil, err
			}
			return &verifiedToken{claims: claims, kid: kid, exp: claims.ExpiresAt.Time}, nil
		})
	return t
}

// ClockSkew is how far in the future a token's iat and nbf may be: the
// hosts of a cluster disagree a little about the time, and a token issued
// on one must verify on another at once. exp gets none: no token is taken
// past its lifetime. It matches the minute a retiring key outlives the
// tokens it signed (tenant.Store's rotate).
const ClockSkew = time.Minute

// Issuer is the iss of a tenant's tokens.
func (t *Tokens) Issuer(slug string) string { return t.publicURL + "/v1/t/" + slug }

// Issue signs an access token for a user's session with the tenant's
// active key. It returns the token and its lifetime.
func (t *Tokens) Issue(rt *tenant.Runtime, userID, sid string) (string, error) {
	now := t.now().Truncate(time.Second)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.Issuer(rt.Slug),
			Subject:   userID,
			Audience:  jwt.ClaimStrings{rt.Slug},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(rt.AccessTTL)),
			ID:        randomToken(16),
		},
		SID: sid,
	}
	method, err := signingMethod(rt.Signing.Alg)
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = rt.Signing.KID
	return tok.SignedString(rt.Signing.Private)
}

// Verify checks an access token strictly against one tenant: the kid must
// be one of that tenant's usable keys, the alg must be that key's alg, typ
// must be at+jwt, and iss, aud, exp, sub and sid must be present and right.
func (t *Tokens) Verify(rt *tenant.Runtime, raw string) (claims *Claims, err error) {
	miss := false
	defer func() {
		cached, result := "hit", "valid"
		if miss {
			cached = "miss"
		}
		if err != nil {
			result = "invalid"
		}
		t.verifications.Inc(cached, result)
	}()
	key := verifiedKey{rt, raw}
	// The flag is set by this call's load only: a call that joins another's
	// load in flight did not pay for a signature check, and counts a hit.
	vt, err := t.verified.Get(context.WithValue(context.Background(), missKey{}, &miss), key)
	if err != nil {
		return nil, err
	}
	now := t.now()
	if _, usable := rt.VerifyKeyFor(vt.kid, now); usable && now.Before(vt.exp) {
		return vt.claims, nil
	}
	// Expired, or its key retired since: forget it, and let the full check
	// say why.
	t.verified.Invalidate(key)
	miss = true
	claims, _, err = t.verify(rt, raw)
	return claims, err
}

// CountVerifications makes c count every Verify by cache ("hit", "miss")
// and result ("valid", "invalid").
func (t *Tokens) CountVerifications(c Counter) { t.verifications = orNop(c) }

func (t *Tokens) verify(rt *tenant.Runtime, raw string) (*Claims, string, error) {
	claims := &Claims{}
	var kid string
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{tenant.AlgES256, tenant.AlgEdDSA}),
		jwt.WithIssuer(t.Issuer(rt.Slug)),
		jwt.WithAudience(rt.Slug),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew), // for iat and nbf: exp is checked strictly below
		jwt.WithTimeFunc(t.now),
		// The last character of a base64url segment has bits no byte
		// uses; without strict decoding a token verifies with them set,
		// so one signed token would have many spellings.
		jwt.WithStrictDecoding(),
	)
	_, err := parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
			return nil, errors.New("typ is not at+jwt")
		}
		// Our tokens carry alg, typ and kid only. Anything else (crit,
		// jku, x5u, jwk, x5c...) asks the verifier for something it does
		// not do, so it is refused rather than ignored (RFC 7515 4.1.11).
		for h := range tok.Header {
			if h != "alg" && h != "typ" && h != "kid" {
				return nil, fmt.Errorf("header %q is not accepted", h)
			}
		}
		kid, _ = tok.Header["kid"].(string)
		key, ok := rt.VerifyKeyFor(kid, t.now())
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if tok.Method.Alg() != key.Alg {
			return nil, fmt.Errorf("alg %s is not the key's %s", tok.Method.Alg(), key.Alg)
		}
		return key.Public, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if !t.now().Before(claims.ExpiresAt.Time) {
		return nil, "", fmt.Errorf("%w: token is expired", ErrInvalidToken)
	}
	if claims.Subject == "" || claims.SID == "" {
		return nil, "", fmt.Errorf("%w: sub or sid missing", ErrInvalidToken)
	}
	return claims, kid, nil
}

func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case tenant.AlgES256:
		return jwt.SigningMethodES256, nil
	case tenant.AlgEdDSA:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("unsupported signing alg %q", alg)
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
