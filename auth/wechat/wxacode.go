package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxImage bounds a code image; WeChat's are tens of kilobytes.
const maxImage = 2 << 20

// WXACodeRequest is the body of getwxacodeunlimit.
type WXACodeRequest struct {
	Scene      string `json:"scene"`
	Page       string `json:"page,omitempty"`        // "" is the home page
	CheckPath  *bool  `json:"check_path,omitempty"`  // nil is WeChat's default, true
	EnvVersion string `json:"env_version,omitempty"` // "release" (default), "trial", "develop"
	Width      int    `json:"width,omitempty"`       // 280..1280, WeChat's default 430
}

// Image is a mini-program code image.
type Image struct {
	Data        []byte
	ContentType string
}

// WXACodeUnlimit makes a mini-program code that opens Page with Scene.
// WeChat answers the image itself on success and JSON {errcode, errmsg}
// on failure, both with HTTP 200: the two are told apart by Content-Type
// and by the first byte, never by the status.
func (c *Client) WXACodeUnlimit(ctx context.Context, accessToken string, r WXACodeRequest) (_ Image, err error) {
	const op = "getwxacodeunlimit"
	start := time.Now()
	defer func() { c.observed(op, start, err) }()
	body, err := json.Marshal(r)
	if err != nil {
		return Image{}, fmt.Errorf("wechat %s: encode request: %w", op, err)
	}
	target := c.base + "/wxa/getwxacodeunlimit?" + url.Values{"access_token": {accessToken}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Image{}, fmt.Errorf("wechat %s: invalid base URL %q", op, c.base)
	}
	req.Header.Set("Content-Type", "application/json")
	secrets := []string{accessToken}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Image{}, transportError(op, err, secrets)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return Image{}, unavailable(op, fmt.Sprintf("HTTP status %d", resp.StatusCode))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxImage+1))
	if err != nil {
		return Image{}, transportError(op, err, secrets)
	}
	if len(raw) > maxImage {
		return Image{}, unavailable(op, "response body too large")
	}
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if strings.Contains(ct, "json") || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var env struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if err := json.Unmarshal(raw, &env); err != nil || env.ErrCode == 0 {
			return Image{}, unavailable(op, "JSON answer without an errcode")
		}
		return Image{}, fmt.Errorf("wechat %s: %w", op, &APIError{Code: env.ErrCode, Msg: scrub(env.ErrMsg, secrets)})
	}
	switch {
	case bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")):
		return Image{Data: raw, ContentType: "image/png"}, nil
	case bytes.HasPrefix(raw, []byte("\xff\xd8\xff")):
		return Image{Data: raw, ContentType: "image/jpeg"}, nil
	}
	return Image{}, unavailable(op, "answer is neither an image nor JSON")
}
