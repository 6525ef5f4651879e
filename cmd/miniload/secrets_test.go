package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The log search finds a secret however it sits in a line and names only
// its kind; eachLog reads every log but the fake's, and nothing else.
func TestLogSearch(t *testing.T) {
	l := newLeakSearch()
	l.add("the master key", true, "bWFzdGVyLWtleS1vZi10ZXN0cw==")
	l.add("an AppSecret", true, "bench-secret-7")
	l.add("a refresh token", false, "Zm9vYmFyYmF6cXV4LXJlZnJlc2gtdG9rZW4tb25lXzE")
	l.add("too short to search", true, "abc")

	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("clean.log", `{"msg":"request","path":"/v1/t/bench-00001/refresh","status":200,"abc":1}`+"\n")
	write("master.log", `MINIAUTH_MASTER_KEY=bWFzdGVyLWtleS1vZi10ZXN0cw== in the environment`+"\n")
	write("secret.log", `{"url":"https://api.weixin.qq.com/sns/jscode2session?secret=bench-secret-7&js_code=x"}`+"\n")
	write("refresh.log", `body {"refresh_token":"Zm9vYmFyYmF6cXV4LXJlZnJlc2gtdG9rZW4tb25lXzE"}`+"\n")
	write("pg/postgres.log", `DETAIL: parameters: $1 = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4eXoxMjMifQ.c2lnbmF0dXJlLW9mLWEtdG9rZW4'`+"\n")
	write("api.log", `Authorization: Bearer mak_0123456789abcdefghij`+"\n")
	write("wxfake.log", `secret=bench-secret-7`+"\n")
	write("notes.txt", `bench-secret-7`+"\n")

	var found []string
	files, _, err := eachLog(func(name, text string) {
		for _, kind := range l.find(text) {
			found = append(found, name+" holds "+kind)
		}
	}, dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	want := []string{
		"api.log holds something shaped like an access token or API key",
		"master.log holds the master key",
		"postgres.log holds something shaped like an access token or API key",
		"refresh.log holds a refresh token",
		"secret.log holds an AppSecret",
	}
	if !slices.Equal(found, want) {
		t.Fatalf("found\n%q\nwant\n%q", found, want)
	}
	if files != 6 || l.size() != 3 {
		t.Fatalf("%d files and %d secrets, want 6 files (not the fake's log, not a .txt) and 3 secrets", files, l.size())
	}
	// A refresh token is a word of its own: one inside a longer word is
	// another token.
	if got := l.find(`Zm9vYmFyYmF6cXV4LXJlZnJlc2gtdG9rZW4tb25lXzEx`); len(got) != 0 {
		t.Fatalf("a longer word matched: %q", got)
	}
}
