package check

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

func parseDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open(filepath.Join(RepoRoot(), "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(res.Warnings) > 0 {
		for _, w := range res.Warnings {
			t.Errorf("Dockerfile warning: %s", w.Short)
		}
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return stages
}

// cmdLine is a RUN/CMD/ENTRYPOINT's words, shell form split on white space.
func cmdLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return strings.Fields(strings.Join(c.CmdLine, " "))
	}
	return c.CmdLine
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a multi-stage build", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.BaseName, "golang:1.26") {
		t.Errorf("builder FROM %s, want golang:1.26", build.BaseName)
	}
	distroless := strings.HasPrefix(final.BaseName, "gcr.io/distroless/static")
	if !distroless && final.BaseName != "scratch" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static or scratch", final.BaseName)
	}

	var (
		goBuilds    [][]string
		cgoOff      bool
		modulesIdx  = -1
		downloadIdx = -1
		sourceIdx   = -1
	)
	for _, st := range stages[:len(stages)-1] {
		for i, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
						cgoOff = true
					}
				}
			case *instructions.CopyCommand:
				if slices.Equal(c.SourcePaths, []string{"go.mod", "go.sum"}) {
					modulesIdx = i
				}
				if slices.Contains(c.SourcePaths, ".") && sourceIdx < 0 {
					sourceIdx = i
				}
			case *instructions.RunCommand:
				words := cmdLine(c.ShellDependantCmdLine)
				for j := 0; j+1 < len(words); j++ {
					if words[j] == "go" && words[j+1] == "mod" && j+2 < len(words) && words[j+2] == "download" {
						downloadIdx = i
					}
					if words[j] == "go" && words[j+1] == "build" {
						if j > 0 && words[j-1] == "CGO_ENABLED=0" {
							cgoOff = true
						}
						goBuilds = append(goBuilds, words[j+2:])
					}
				}
			}
		}
	}
	if !cgoOff {
		t.Errorf("CGO_ENABLED=0 is not set for the build")
	}
	if modulesIdx < 0 || downloadIdx < modulesIdx || sourceIdx < downloadIdx {
		t.Errorf("want COPY go.mod go.sum, then go mod download, then COPY . (got positions %d, %d, %d)", modulesIdx, downloadIdx, sourceIdx)
	}
	if len(goBuilds) != 1 {
		t.Fatalf("want exactly one go build, found %d: %q", len(goBuilds), goBuilds)
	}
	args := goBuilds[0]
	var pkgs []string
	var trimpath, stripped bool
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-trimpath":
			trimpath = true
		case a == "-ldflags" && i+1 < len(args):
			// The shell form keeps its quotes: -ldflags "-s -w" is two words here.
			flags := []string{}
			for i++; i < len(args); i++ {
				flags = append(flags, strings.Trim(args[i], `"'`))
				if strings.HasSuffix(args[i], `"`) || strings.HasSuffix(args[i], `'`) || !strings.HasPrefix(args[i], `"`) && !strings.HasPrefix(args[i], `'`) {
					break
				}
			}
			stripped = slices.Contains(flags, "-s") && slices.Contains(flags, "-w")
		case a == "-o":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			pkgs = append(pkgs, a)
		}
	}
	if !trimpath || !stripped {
		t.Errorf("go build %q: want -trimpath and -ldflags \"-s -w\"", args)
	}
	if !slices.Equal(pkgs, []string{"./cmd/miniauth"}) {
		t.Errorf("go build builds %q, want ./cmd/miniauth only", pkgs)
	}

	var user string
	var entrypoint, cmd []string
	var exposed []string
	env := map[string]string{}
	var copiedFromBuild bool
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Errorf("ENTRYPOINT in shell form; distroless has no shell")
			}
			entrypoint = c.CmdLine
		case *instructions.CmdCommand:
			cmd = c.CmdLine
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.CopyCommand:
			if c.From == build.Name || c.From == "0" {
				copiedFromBuild = true
			}
		case *instructions.RunCommand:
			t.Errorf("final stage RUNs %q; it has no shell", c.CmdLine)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	switch {
	case uid == "" && !(distroless && strings.HasSuffix(final.BaseName, ":nonroot")):
		t.Errorf("final stage sets no USER and its base is not :nonroot")
	case uid == "0" || uid == "root":
		t.Errorf("final stage runs as %s", user)
	}
	if !copiedFromBuild {
		t.Errorf("final stage copies nothing from the build stage")
	}
	if !slices.Equal(entrypoint, []string{"/miniauth"}) || !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf("ENTRYPOINT %q CMD %q, want [/miniauth] [serve]", entrypoint, cmd)
	}
	for _, p := range []string{"8080", "9090"} {
		if !slices.Contains(exposed, p) && !slices.Contains(exposed, p+"/tcp") {
			t.Errorf("final stage does not EXPOSE %s (have %v)", p, exposed)
		}
	}
	if env["MINIAUTH_OPS_ADDR"] != ":9090" {
		t.Errorf("ENV MINIAUTH_OPS_ADDR = %q, want :9090", env["MINIAUTH_OPS_ADDR"])
	}
	for _, st := range stages {
		for _, c := range st.Commands {
			if strings.Contains(c.(interface{ String() string }).String(), "wxfake") {
				t.Errorf("the image build mentions wxfake: %s", c)
			}
		}
	}
}

// .dockerignore keeps the repository's history and secrets out of the build
// context but nothing go build ./cmd/miniauth reads: every non-test Go file,
// go.mod, go.sum and every file the //go:embed directives name.
func TestDockerignore(t *testing.T) {
	root := RepoRoot()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ignored := func(rel string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, p := range []string{".git", ".env", "deploy/compose/.env", ".dev", "bin"} {
		if !ignored(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}

	var needed []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" || d.Name() == "bin") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && rel != "." {
				return filepath.SkipDir // another module (deploy/check)
			}
			return nil
		}
		if rel == "go.mod" || rel == "go.sum" {
			needed = append(needed, rel)
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		needed = append(needed, rel)
		embeds, err := embedPatterns(path)
		if err != nil {
			return err
		}
		for _, pat := range embeds {
			matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), pat))
			if len(matches) == 0 {
				t.Errorf("%s: //go:embed %s matches nothing", rel, pat)
			}
			for _, m := range matches {
				filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						r, _ := filepath.Rel(root, p)
						needed = append(needed, r)
					}
					return err
				})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(needed, "cmd/miniauth/main.go") {
		t.Fatalf("the walk found no cmd/miniauth/main.go (found %d files)", len(needed))
	}
	for _, rel := range needed {
		if ignored(rel) {
			t.Errorf(".dockerignore excludes %s, which go build ./cmd/miniauth needs", rel)
		}
	}
}

// embedPatterns lists the patterns of a Go file's //go:embed directives.
func embedPatterns(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "//go:embed "); ok {
			for _, p := range strings.Fields(rest) {
				out = append(out, strings.TrimPrefix(strings.Trim(p, "\"`"), "all:"))
			}
		}
	}
	return out, sc.Err()
}
