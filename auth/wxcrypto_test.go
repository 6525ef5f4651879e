package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/tenant"
)

// WeChat's published sample (the official decryption demo).
const (
	demoAppID      = "wx4f4bc4dec97d474b"
	demoSessionKey = "tiihtNczf5v6AKRyjwEUhQ=="
	demoIV         = "r7BXXKkLb8qrSNn05n0qiA=="
	demoEncrypted  = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
	// The documented rawData signature example.
	docRawData    = `{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}`
	docSessionKey = "HyVFkGl5F5OQWJZZaNzBBg=="
	docSignature  = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"
)

func TestDecryptDataVector(t *testing.T) {
	plain, err := DecryptData(demoSessionKey, demoEncrypted, demoIV, demoAppID)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		OpenID    string `json:"openId"`
		UnionID   string `json:"unionId"`
		Watermark struct {
			Timestamp int64  `json:"timestamp"`
			AppID     string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatal(err)
	}
	if got.OpenID != "oGZUI0egBJY1zhBYw2KhdUfwVJJE" || got.UnionID != "ocMvos6NjeKLIBqg5Mr9QjxrP1FA" || got.Watermark.Timestamp != 1477314187 {
		t.Fatalf("decrypted %+v", got)
	}
}

// encrypt is the other side of DecryptData, for tampered cases.
func encrypt(t *testing.T, key string, plain []byte, pad func([]byte) []byte) string {
	t.Helper()
	k, _ := base64.StdEncoding.DecodeString(key)
	iv, _ := base64.StdEncoding.DecodeString(demoIV)
	block, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	b := pad(plain)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(b, b)
	return base64.StdEncoding.EncodeToString(b)
}

func pkcs7(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	return append(append([]byte{}, b...), []byte(strings.Repeat(string(rune(n)), n))...)
}

func TestDecryptDataRefusals(t *testing.T) {
	ct, _ := base64.StdEncoding.DecodeString(demoEncrypted)
	flipped := append([]byte{}, ct...)
	flipped[len(flipped)-1] ^= 0x01
	invalid := func(err error) bool { var v *tenant.ValidationError; return errors.As(err, &v) }
	stale := func(err error) bool { return errors.Is(err, ErrSessionKeyStale) }
	foreign := func(err error) bool { return errors.Is(err, ErrForeignData) }
	for name, tc := range map[string]struct {
		key, data, iv, appID string
		want                 func(error) bool
	}{
		"empty data":          {demoSessionKey, "", demoIV, demoAppID, invalid},
		"not base64":          {demoSessionKey, "%%%", demoIV, demoAppID, invalid},
		"truncated block":     {demoSessionKey, base64.StdEncoding.EncodeToString(ct[:len(ct)-3]), demoIV, demoAppID, invalid},
		"short iv":            {demoSessionKey, demoEncrypted, base64.StdEncoding.EncodeToString(make([]byte, 8)), demoAppID, invalid},
		"iv not base64":       {demoSessionKey, demoEncrypted, "??", demoAppID, invalid},
		"huge data":           {demoSessionKey, strings.Repeat("A", maxEncrypted+4), demoIV, demoAppID, invalid},
		"another key":         {docSessionKey, demoEncrypted, demoIV, demoAppID, stale},
		"flipped last byte":   {demoSessionKey, base64.StdEncoding.EncodeToString(flipped), demoIV, demoAppID, stale},
		"another app":         {demoSessionKey, demoEncrypted, demoIV, "wx0000000000000000", foreign},
		"stored key not 16 B": {"c2hvcnQ=", demoEncrypted, demoIV, demoAppID, stale},
		"zero padding": {demoSessionKey, encrypt(t, demoSessionKey, []byte(`{"watermark":{"appid":"wx4f4bc4dec97d474b"}}`),
			func(b []byte) []byte {
				return append(append([]byte{}, b...), make([]byte, aes.BlockSize-len(b)%aes.BlockSize)...)
			}), demoIV, demoAppID, stale},
		"uneven padding": {demoSessionKey, encrypt(t, demoSessionKey, []byte(`{"watermark":{"appid":"wx4f4bc4dec97d474b"}}`),
			func(b []byte) []byte { p := pkcs7(b); p[len(p)-2] ^= 1; return p }), demoIV, demoAppID, stale},
		"json array":   {demoSessionKey, encrypt(t, demoSessionKey, []byte(`[1,2,3]`), pkcs7), demoIV, demoAppID, foreign},
		"json string":  {demoSessionKey, encrypt(t, demoSessionKey, []byte(`"hi"`), pkcs7), demoIV, demoAppID, foreign},
		"not json":     {demoSessionKey, encrypt(t, demoSessionKey, []byte(`hello world`), pkcs7), demoIV, demoAppID, stale},
		"no watermark": {demoSessionKey, encrypt(t, demoSessionKey, []byte(`{"openId":"x"}`), pkcs7), demoIV, demoAppID, foreign},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecryptData(tc.key, tc.data, tc.iv, tc.appID); !tc.want(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// Our own encryption of a good payload opens: the refusals above are
	// of the tampering, not of the helper.
	good := encrypt(t, demoSessionKey, []byte(`{"watermark":{"appid":"wx4f4bc4dec97d474b"},"x":1}`), pkcs7)
	if _, err := DecryptData(demoSessionKey, good, demoIV, demoAppID); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRawData(t *testing.T) {
	if got := RawDataSignature(docRawData, docSessionKey); got != docSignature {
		t.Fatalf("signature %s, want the documented %s", got, docSignature)
	}
	if err := VerifyRawData(docRawData, docSignature, docSessionKey); err != nil {
		t.Fatal(err)
	}
	if err := VerifyRawData(docRawData, strings.ToUpper(docSignature), docSessionKey); err != nil {
		t.Fatalf("upper-case hex: %v", err)
	}
	for name, tc := range map[string]struct {
		raw, sig, key string
		stale         bool
	}{
		"tampered raw data": {strings.Replace(docRawData, "Band", "Bond", 1), docSignature, docSessionKey, true},
		"rotated key":       {docRawData, docSignature, demoSessionKey, true},
		"short signature":   {docRawData, docSignature[:39], docSessionKey, false},
		"not hex":           {docRawData, strings.Repeat("z", 40), docSessionKey, false},
		"empty raw data":    {"", docSignature, docSessionKey, false},
	} {
		err := VerifyRawData(tc.raw, tc.sig, tc.key)
		var v *tenant.ValidationError
		if tc.stale && !errors.Is(err, ErrSessionKeyStale) || !tc.stale && !errors.As(err, &v) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
