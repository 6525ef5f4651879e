package fake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
)

// ErrNoSessionKey: the user has not logged in to the app yet, so there is
// no session_key to encrypt or sign with.
var ErrNoSessionKey = errors.New("fake: user has no session_key in this app")

// EncryptData is what the mini-program receives as encryptedData and iv
// (getUserInfo, share info, run data): data plus a watermark {appid,
// timestamp}, AES-128-CBC with PKCS#7 under the user's current session_key
// and a random IV, both base64.
func (s *Server) EncryptData(appID, user string, data map[string]any) (encryptedData, iv string, err error) {
	key, ok := s.SessionKey(appID, user)
	if !ok {
		return "", "", ErrNoSessionKey
	}
	doc := maps.Clone(data)
	if doc == nil {
		doc = map[string]any{}
	}
	doc["watermark"] = map[string]any{"appid": appID, "timestamp": s.now().Unix()}
	plain, err := json.Marshal(doc)
	if err != nil {
		return "", "", err
	}
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", "", err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return "", "", err
	}
	n := aes.BlockSize - len(plain)%aes.BlockSize
	for range n {
		plain = append(plain, byte(n))
	}
	ivb := make([]byte, aes.BlockSize)
	_, _ = rand.Read(ivb)
	cipher.NewCBCEncrypter(block, ivb).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), base64.StdEncoding.EncodeToString(ivb), nil
}

// SignRawData is the signature WeChat gives with rawData:
// hex(sha1(rawData + session_key)) under the user's current session_key.
func (s *Server) SignRawData(appID, user, rawData string) (string, error) {
	key, ok := s.SessionKey(appID, user)
	if !ok {
		return "", ErrNoSessionKey
	}
	sum := sha1.Sum([]byte(rawData + key))
	return hex.EncodeToString(sum[:]), nil
}

// RotateSessionKey gives the user a new session_key, as a wx.login on the
// phone can, without any server learning it: what the server stored is
// then stale.
func (s *Server) RotateSessionKey(appID, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := userRef{appID, s.OpenID(appID, user)}
	if _, ok := s.sessionKeys[ref]; !ok {
		return ErrNoSessionKey
	}
	s.sessionKeys[ref] = newSessionKey()
	return nil
}

func (s *Server) ctlEncryptData(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string         `json:"appid"`
		User  string         `json:"user"`
		Data  map[string]any `json:"data"`
	}
	if !decodeControl(w, r, &in) || !s.ctlCheckApp(w, in.AppID, "user", in.User) {
		return
	}
	ed, iv, err := s.EncryptData(in.AppID, in.User, in.Data)
	if err != nil {
		ctlError(w, http.StatusNotFound, err.Error())
		return
	}
	ctlJSON(w, http.StatusOK, struct {
		EncryptedData string `json:"encrypted_data"`
		IV            string `json:"iv"`
	}{ed, iv})
}

func (s *Server) ctlSignRawData(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID   string `json:"appid"`
		User    string `json:"user"`
		RawData string `json:"raw_data"`
	}
	if !decodeControl(w, r, &in) || !s.ctlCheckApp(w, in.AppID, "user", in.User) {
		return
	}
	sig, err := s.SignRawData(in.AppID, in.User, in.RawData)
	if err != nil {
		ctlError(w, http.StatusNotFound, err.Error())
		return
	}
	ctlJSON(w, http.StatusOK, struct {
		Signature string `json:"signature"`
	}{sig})
}

func (s *Server) ctlRotateSessionKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID string `json:"appid"`
		User  string `json:"user"`
	}
	if !decodeControl(w, r, &in) || !s.ctlCheckApp(w, in.AppID, "user", in.User) {
		return
	}
	if err := s.RotateSessionKey(in.AppID, in.User); err != nil {
		ctlError(w, http.StatusNotFound, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
