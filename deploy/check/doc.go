// Package check holds offline tests of miniauth's deployment files: the
// Dockerfile, the compose stack and the Kubernetes kustomize base. It is a
// module of its own so the server's module carries none of these
// dependencies. Run it with `make check-deploy` from the repository root,
// or `go test ./...` here.
package check

import (
	"path/filepath"
	"runtime"
)

// RepoRoot is the miniauth repository root, found from this file's place in it.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
