# miniauth developer entry points (GNU make).
#   make run            start Postgres/Redis if needed, the fake WeChat API and the server
#   make test           go vet + go test -race against real Postgres and Redis
#   make bench          the whole system under load: one table, JSON and a chart in .dev/bench (cmd/miniload)
#   make bench-go       the go test benchmarks beside the code
#   make fuzz           every go test fuzz target in turn, FUZZ_TIME each (default 60s)
#   make vulncheck      known vulnerabilities in the dependencies (govulncheck; needs vuln.go.dev or VULNCHECK_DB)
#   make soak           faults under load (Postgres, Redis, WeChat and an instance fail in turn), then 100,000 refresh races
#   make services-stop  stop the private Postgres/Redis that make run/test may have started
#   make lint-openapi   lint admin/api/openapi.json with Redocly CLI (redocly.yaml; needs npx)
#   make generate       regenerate the templ views' *_templ.go files (committed)
#   make check-generated  fail when `make generate` would change a committed file
#   make check-sdk-types  type-check web/sdk/miniauth.d.ts against miniprogram-api-typings (needs npm)
#   make check-deploy   check every file under deploy/ offline with the tool that reads it (deploy/test/check.sh)
#   make install-dry-run  install into a scratch root as the systemd unit does, nginx in front, log in over HTTPS (root)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO            ?= go
TEMPL_VERSION ?= v0.3.1100
TEST_TIMEOUT  ?= 15m
# Test packages mostly wait on Postgres, Redis and the network, not on the
# CPU: running six at once on two cores roughly halves the wall time.
TEST_PACKAGES ?= 6
SERVICES      := deploy/local/services.sh

# Evaluated inside a recipe: exports DATABASE_URL and REDIS_URL, starting private
# instances when nothing answers. Captured first so a failure stops the recipe
# (a bare eval "$(...)" would swallow it).
SERVICES_ENV = svc_env=$$(bash $(SERVICES) env); eval "$$svc_env"; export DATABASE_URL REDIS_URL

# -race needs cgo and a C compiler; say so and go on without it rather than fail.
RACE = $$(if [[ "$$($(GO) env CGO_ENABLED)" == 1 ]] && command -v "$$($(GO) env CC | awk '{print $$1}')" >/dev/null 2>&1; \
	then echo -race; else echo 'make: no C compiler for cgo, running tests without -race' >&2; fi)

.PHONY: check-sdk-types check-deploy install-dry-run all build run test bench bench-compare bench-go soak fuzz vulncheck fmt vet lint-openapi generate check-generated clean services-env services-stop help

all: build

help:
	@echo 'targets: build run test bench bench-compare bench-go soak fuzz vulncheck fmt vet lint-openapi generate check-generated check-sdk-types check-deploy install-dry-run clean services-env services-stop'

build:
	$(GO) build ./...
	@mkdir -p bin
	@if compgen -G 'cmd/*/*.go' >/dev/null; then \
		echo '$(GO) build -o bin/ ./cmd/...'; $(GO) build -o bin/ ./cmd/...; \
	else echo 'make: no commands under cmd/ yet'; fi

run:
	bash deploy/local/run.sh

test:
	@$(SERVICES_ENV); \
	echo "$(GO) vet ./..."; $(GO) vet ./...; \
	race=$(RACE); \
	echo "$(GO) test $$race -count=1 -p $(TEST_PACKAGES) -timeout $(TEST_TIMEOUT) ./..."; \
	$(GO) test $$race -count=1 -p $(TEST_PACKAGES) -timeout $(TEST_TIMEOUT) ./...

# The whole system under load (cmd/miniload): Postgres and Redis as make test
# finds them, the fake WeChat API and BENCH_INSTANCES servers, load from a
# separate process. BENCH_ARGS passes any other miniload flag.
BENCH_TENANTS     ?= 10
BENCH_USERS       ?= 1000
BENCH_CONCURRENCY ?= 32
BENCH_DURATION    ?= 10s
BENCH_INSTANCES   ?= 1
BENCH_ARGS        ?=
bench: build
	@$(SERVICES_ENV); \
	bin/miniload bench -tenants $(BENCH_TENANTS) -users $(BENCH_USERS) -concurrency $(BENCH_CONCURRENCY) \
		-duration $(BENCH_DURATION) -instances $(BENCH_INSTANCES) $(BENCH_ARGS)

# Two runs' JSON side by side: make bench-compare A=old.json B=new.json
bench-compare: build
	bin/miniload compare $(A) $(B)

# Faults under load (cmd/miniload faults): a private Postgres and Redis it
# starts itself, the fake WeChat API and three instances under a steady mixed
# load while Redis, Postgres, the pool, WeChat and one instance fail in turn,
# SOAK_CYCLES times; it fails when a client saw what the failure policy does
# not allow, recovery took over 5 s, goroutines grew or an invariant broke.
# Then SOAK_TRIALS refresh races (TestRefreshRaces): one refresh token
# presented by two to four clients at once over three instances, per trial.
# make test runs short ones of both (TestFaultsEndToEnd, 600 races).
SOAK_OUTAGE ?= 10s
SOAK_CYCLES ?= 3
SOAK_ARGS   ?=
SOAK_TRIALS ?= 100000
soak: build
	bin/miniload faults -outage $(SOAK_OUTAGE) -cycles $(SOAK_CYCLES) $(SOAK_ARGS)
	@$(SERVICES_ENV); \
	echo "MINIAUTH_REFRESH_TRIALS=$(SOAK_TRIALS) $(GO) test -count=1 -timeout 2h -run '^TestRefreshRaces$$' -v ./cmd/miniauth"; \
	MINIAUTH_REFRESH_TRIALS=$(SOAK_TRIALS) $(GO) test -count=1 -timeout 2h -run '^TestRefreshRaces$$' -v ./cmd/miniauth

# Known vulnerabilities (the Go vulnerability database) in the modules of
# both Go modules, reported only where our code reaches the vulnerable
# symbol. govulncheck is pinned; it needs https://vuln.go.dev, or a mirror of
# it named by VULNCHECK_DB (e.g. file:///srv/vulndb). Offline it fails with
# the lookup error: there is no offline fallback.
VULNCHECK_VERSION ?= v1.9.0
VULNCHECK_DB      ?= https://vuln.go.dev
vulncheck:
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(VULNCHECK_VERSION) -db $(VULNCHECK_DB) ./...
	cd deploy/check && $(GO) run golang.org/x/vuln/cmd/govulncheck@$(VULNCHECK_VERSION) -db $(VULNCHECK_DB) ./...

# The go test benchmarks beside the code.
bench-go:
	@$(SERVICES_ENV); \
	echo "$(GO) test -run '^$$' -bench . -benchmem ./..."; \
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Native Go fuzzing: every Fuzz target of every package, one after another,
# for FUZZ_TIME each. Targets are found by grep and go test -list, so a new
# one runs without a change here. A failing input is written under the
# package's testdata/fuzz/<target>/; commit it with the fix as a seed.
# Postgres and Redis as make test finds them (FuzzRefresh needs Postgres).
# FUZZ_PARALLEL sets the number of fuzzing workers (go test's default:
# GOMAXPROCS). FUZZ_MINIMIZE_TIME bounds the minimizing of each new input:
# go test's default, 60s, can stall a short run for most of its time.
# Go's fuzzing coordinator can fail a run with a bare "context deadline
# exceeded" as FUZZ_TIME ends (golang/go#75804); such a run, with no
# failing input and no failed seed, is reported and passed over.
FUZZ_TIME          ?= 60s
FUZZ_PARALLEL      ?=
FUZZ_MINIMIZE_TIME ?= 5s
fuzz:
	@$(SERVICES_ENV); \
	dirs=$$(grep -rlE --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.dev '^func Fuzz[A-Za-z0-9_]*\(' . \
		| xargs -r -n1 dirname | sort -u || true); \
	if [[ -z "$$dirs" ]]; then echo 'make: no fuzz targets'; exit 0; fi; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for dir in $$dirs; do \
		list=$$($(GO) test -list '^Fuzz' "$$dir"); \
		for name in $$(grep -E '^Fuzz' <<<"$$list" || true); do \
			echo "$(GO) test -run '^$$' -fuzz '^$$name$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE_TIME) $(if $(FUZZ_PARALLEL),-parallel $(FUZZ_PARALLEL) )$$dir"; \
			if ! $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_TIME) -fuzzminimizetime $(FUZZ_MINIMIZE_TIME) $(if $(FUZZ_PARALLEL),-parallel $(FUZZ_PARALLEL)) "$$dir" 2>&1 | tee "$$log"; then \
				if grep -qx '    context deadline exceeded' "$$log" && \
					! grep -qE 'Failing input written|failure while testing seed corpus|panic:|--- FAIL: Fuzz[A-Za-z0-9_]*/' "$$log"; then \
					echo "make: $$name stopped on Go's end-of-fuzztime race (golang/go#75804), no failing input: passed over" >&2; \
				else exit 1; fi; \
			fi; \
		done; \
	done

fmt:
	find . -name '*.go' -not -path './node_modules/*' -not -path './.dev/*' -not -path './bin/*' \
		-exec gofmt -s -l -w {} +

vet:
	$(GO) vet ./...

# The OpenAPI document served at /api/v1/openapi.json, linted with the
# recommended ruleset as configured in redocly.yaml.
lint-openapi:
	npx --yes @redocly/cli@2.77.0 lint admin/api/openapi.json

# The SDK's declarations, compiled against the mini-program API typings in
# a throwaway directory (nothing is installed into the repository).
SDK_TS_VERSION       ?= 5.9.3
SDK_TYPINGS_VERSION  ?= 5.2.3
check-sdk-types:
	@dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$$dir" \
		typescript@$(SDK_TS_VERSION) miniprogram-api-typings@$(SDK_TYPINGS_VERSION); \
	echo "tsc --noEmit --strict web/sdk/test/types.ts"; \
	"$$dir/node_modules/.bin/tsc" --noEmit --strict --skipLibCheck --lib es2020 --target es2020 \
		--module commonjs --moduleResolution node --typeRoots "$$dir/node_modules" --types miniprogram-api-typings \
		web/sdk/test/types.ts

# The deployment files, checked offline: nginx -t, systemd-analyze, logrotate,
# promtool (rules and their unit tests), shellcheck, sshd -t, and the separate
# Go module deploy/check for the Dockerfile, compose stack and kustomize base.
check-deploy:
	bash deploy/test/check.sh

# The install, done for real in a scratch root and torn down (needs root).
install-dry-run:
	@$(SERVICES_ENV); bash deploy/test/dry-run.sh

generate:
	@if [[ -n "$$(find . -name '*.templ' -not -path './node_modules/*' -not -path './.dev/*' -print -quit)" ]]; then \
		echo '$(GO) run github.com/a-h/templ/cmd/templ@$(TEMPL_VERSION) generate'; \
		$(GO) run github.com/a-h/templ/cmd/templ@$(TEMPL_VERSION) generate; \
	else echo 'make: no .templ files, nothing to generate'; fi

# CI runs this: the generated views must be what the .templ files say.
check-generated: generate
	@if ! git diff --quiet -- '*_templ.go' || [[ -n "$$(git ls-files --others --exclude-standard -- '*_templ.go')" ]]; then \
		git status --short -- '*_templ.go'; \
		echo 'make: templ generate changed the committed views; run make generate and commit the result' >&2; exit 1; \
	fi

clean:
	rm -rf bin
	rm -f coverage.out cpu.out mem.out *.test

# Print the export lines (eval "$(make -s services-env)" in a shell).
services-env:
	@bash $(SERVICES) env

services-stop:
	bash $(SERVICES) stop
