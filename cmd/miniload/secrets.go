package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/miniauth/miniauth/admin"
)

// leakSearch is what must never appear in a log: secrets known by value,
// each with its kind for the report (the report never shows a secret).
// Few are searched for anywhere in the text; many (one per session key or
// refresh token) are looked up word by word, a word being a run of
// base64 and base64url characters, padding aside.
type leakSearch struct {
	few  map[string]string
	many map[string]string
}

func newLeakSearch() *leakSearch {
	return &leakSearch{few: map[string]string{}, many: map[string]string{}}
}

// add records secrets of one kind; those under 8 bytes say too little to
// search for.
func (l *leakSearch) add(kind string, anywhere bool, secrets ...string) {
	for _, s := range secrets {
		s = strings.TrimRight(s, "=")
		switch {
		case len(s) < 8:
		case anywhere:
			l.few[s] = kind
		default:
			l.many[s] = kind
		}
	}
}

// size is how many secrets l searches for.
func (l *leakSearch) size() int { return len(l.few) + len(l.many) }

// Credentials that have a shape, whoever issued them: a signed JWT (an
// access token), a management API key.
var credentialShapes = regexp.MustCompile(`eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}|` + admin.APIKeyPrefix + `[\w-]{16,}`)

var wordSplit = regexp.MustCompile(`[A-Za-z0-9+/_-]{8,}`)

// find returns, for text, the kinds of secret it holds, each once.
func (l *leakSearch) find(text string) []string {
	var kinds []string
	note := func(k string) {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for s, kind := range l.few {
		if strings.Contains(text, s) {
			note(kind)
		}
	}
	for _, w := range wordSplit.FindAllString(text, -1) {
		if kind, ok := l.many[w]; ok {
			note(kind)
		}
	}
	if credentialShapes.MatchString(text) {
		note("something shaped like an access token or API key")
	}
	slices.Sort(kinds)
	return kinds
}

// secrets are the installation's own: the master key, the management API
// key and admin password it was set up with, the tenants' AppSecrets, and
// what the fake WeChat API handed out (session keys, access tokens).
func (s *system) secrets(tenants []tenant) (*leakSearch, error) {
	l := newLeakSearch()
	l.add("the master key", true, s.masterKey)
	l.add("a management API key", true, s.apiKey)
	l.add("an admin password", true, s.password)
	for _, t := range tenants {
		l.add("an AppSecret", true, t.Secret)
	}
	resp, err := http.Get(s.wxURL + "/_fake/secrets")
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	var fake struct {
		Secrets []string `json:"secrets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fake); err != nil {
		return l, fmt.Errorf("GET /_fake/secrets: %w", err)
	}
	l.add("a WeChat session_key, AppSecret or access token", false, fake.Secrets...)
	return l, nil
}

// logScan is how much a run's log scan read, for the report.
type logScan struct {
	Files   int `json:"files"`
	Bytes   int `json:"bytes"`
	Secrets int `json:"secrets"`
}

// eachLog calls check with the name and text of every *.log under dirs but
// the fake WeChat API's, and counts what it read.
func eachLog(check func(name, text string), dirs ...string) (files, bytes int, err error) {
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") || d.Name() == "wxfake.log" {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files, bytes = files+1, bytes+len(b)
			check(d.Name(), string(b))
			return nil
		})
		if err != nil {
			return files, bytes, err
		}
	}
	return files, bytes, nil
}
