package fake

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// sceneRe is the character set getwxacodeunlimit accepts in a scene.
var sceneRe = regexp.MustCompile(`^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$`)

// pageRe is a page path: no leading "/", no query.
var pageRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$`)

const (
	errInvalidScene  = 40129
	errSceneTooLong  = 40169
	errInvalidPage   = 41030
	sceneMaxLen      = 32
	wxaDefaultWidth  = 430
	wxaCodeSceneText = "scene"
)

// SetPages sets the pages of the app's released version. A code with
// check_path (the default) must open one of them; an app whose pages were
// never set accepts any well-formed page.
func (s *Server) SetPages(appID string, pages []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[appID] = append([]string(nil), pages...)
}

// LastCodeRequest is the body of the last getwxacodeunlimit call that made
// an image: what the server asked WeChat for.
func (s *Server) LastCodeRequest() (scene, page string, checkPath bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCode.scene, s.lastCode.page, s.lastCode.checkPath
}

type codeRequest struct {
	scene, page string
	checkPath   bool
}

func (s *Server) handleWXACode(w http.ResponseWriter, r *http.Request) {
	const ep = EndpointWXACode
	tok := r.URL.Query().Get("access_token")
	if s.begin(w, r, ep, s.tokenApp(tok)) {
		return
	}
	now := s.now()
	s.mu.Lock()
	appID, code := s.checkToken(tok, now)
	pages, pagesSet := s.pages[appID]
	s.mu.Unlock()
	if code != 0 {
		writeErr(w, now, ep, code)
		return
	}
	var in struct {
		Scene      *string `json:"scene"`
		Page       string  `json:"page"`
		CheckPath  *bool   `json:"check_path"`
		EnvVersion string  `json:"env_version"`
		Width      int     `json:"width"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if json.Unmarshal(raw, &in) != nil || in.Scene == nil {
		writeErr(w, now, ep, errSceneTooLong)
		return
	}
	scene := *in.Scene
	switch {
	case len(scene) > sceneMaxLen:
		writeErr(w, now, ep, errSceneTooLong)
		return
	case scene == "" || !sceneRe.MatchString(scene):
		writeErr(w, now, ep, errInvalidScene)
		return
	}
	checkPath := in.CheckPath == nil || *in.CheckPath
	if in.Page != "" && !pageRe.MatchString(in.Page) {
		writeErr(w, now, ep, errInvalidPage)
		return
	}
	if in.Page != "" && checkPath && pagesSet && !contains(pages, in.Page) {
		writeErr(w, now, ep, errInvalidPage)
		return
	}
	if in.Width != 0 && (in.Width < 280 || in.Width > 1280) {
		in.Width = wxaDefaultWidth
	}
	switch in.EnvVersion {
	case "", "release", "trial", "develop":
	default:
		writeErr(w, now, ep, errBadRequestBody)
		return
	}
	img, err := codeImage(scene, in.Width)
	if err != nil {
		writeErr(w, now, ep, errSystemBusy)
		return
	}
	s.mu.Lock()
	s.lastCode = codeRequest{scene: scene, page: in.Page, checkPath: checkPath}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(img)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// codeImage draws a PNG of a pattern derived from the scene, and carries the
// scene in a tEXt chunk so tests can read back what a code opens.
func codeImage(scene string, width int) ([]byte, error) {
	if width == 0 {
		width = wxaDefaultWidth
	}
	const cells = 21
	cell := max(width/cells, 1)
	img := image.NewGray(image.Rect(0, 0, cells*cell, cells*cell))
	sum := sha256.Sum256([]byte(scene))
	for y := range cells {
		for x := range cells {
			bit := sum[(y*cells+x)/8%len(sum)] >> ((y*cells + x) % 8) & 1
			c := color.Gray{Y: 255}
			if bit == 1 {
				c = color.Gray{Y: 0}
			}
			for dy := range cell {
				for dx := range cell {
					img.SetGray(x*cell+dx, y*cell+dy, c)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return insertText(buf.Bytes(), wxaCodeSceneText, scene), nil
}

// insertText adds a tEXt chunk right after the PNG's IHDR chunk.
func insertText(p []byte, keyword, text string) []byte {
	const sig, ihdr = 8, 8 + 13 + 4 // signature; IHDR length+type, data, CRC
	data := append([]byte(keyword+"\x00"), text...)
	chunk := pngChunk("tEXt", data)
	out := append([]byte{}, p[:sig+ihdr]...)
	out = append(out, chunk...)
	return append(out, p[sig+ihdr:]...)
}

// SceneOf reads the scene back from a code image the fake made.
func SceneOf(p []byte) (string, error) {
	if _, err := png.Decode(bytes.NewReader(p)); err != nil {
		return "", err
	}
	for i := 8; i+8 <= len(p); {
		n := int(p[i])<<24 | int(p[i+1])<<16 | int(p[i+2])<<8 | int(p[i+3])
		typ := string(p[i+4 : i+8])
		if i+12+n > len(p) {
			break
		}
		if typ == "tEXt" {
			if k, v, ok := strings.Cut(string(p[i+8:i+8+n]), "\x00"); ok && k == wxaCodeSceneText {
				return v, nil
			}
		}
		i += 12 + n
	}
	return "", errors.New("fake: no scene in this image")
}

func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	n := len(data)
	b.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	b.WriteString(typ)
	b.Write(data)
	c := crc32.ChecksumIEEE(append([]byte(typ), data...))
	b.Write([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
	return b.Bytes()
}
