# keysmith. `make run` brings up everything locally; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
TEMPORAL_CLI_VERSION := v1.5.1
STATICCHECK_VERSION := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
# The real Temporal server for `make cluster`; its releases need a newer Go
# than go.mod's, so that one build fetches the approved toolchain.
TEMPORAL_SERVER_VERSION := v1.32.2
TEMPORAL_SERVER_GO := go1.27.3
# The UI that CLI $(TEMPORAL_CLI_VERSION) embeds, as its own server.
TEMPORAL_UI_VERSION := v2.42.1

BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

.PHONY: run build test unit lint bench import-bench webhook-bench fuzz postgres tools history clean chromium screenshots verifier-deps cluster cluster-tools cluster-clean chaos

## run: Temporal dev server (UI :8233), migrations, demo config, worker and API (:8080)
run: build bin/temporal postgres
	bin/keysmith dev

build:
	$(GO) build -o bin/keysmith ./cmd/keysmith

## test: lint, then every test (unit, replay, end to end) with the race detector,
## then the short form of make chaos on the cluster shape
test: build bin/temporal cluster-tools postgres chromium verifier-deps lint
	$(GO) test -race -count=1 -timeout 20m ./...
	KEYSMITH_CHAOS=short $(GO) test -count=1 -v -run TestChaos -timeout 20m ./e2e/chaos/

## unit: the tests that need neither Postgres nor Temporal
unit:
	$(GO) test -race -count=1 ./license/ ./qlm/ ./storefront/... ./orderline/ ./order/ ./mail/... ./config/ ./workflows/

lint: bin/staticcheck bin/workflowcheck
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	bin/staticcheck ./...
	bin/workflowcheck ./workflows/...

## cluster: keysmith at production shape, no containers: Temporal server on Postgres
## (SQL visibility), UI, codec server, two workers, two APIs (see docs/vm.md)
cluster: build cluster-tools postgres
	$(GO) run ./cmd/keysmith-cluster

## cluster-clean: drop the cluster's databases and .cluster/
cluster-clean: postgres
	$(GO) run ./cmd/keysmith-cluster -clean

## cluster-tools: Temporal's server, SQL tool, schema files and UI server, built from their Go modules
cluster-tools: bin/temporal bin/temporal-server bin/temporal-ui-server

bin/temporal-server:
	GOTOOLCHAIN=$(TEMPORAL_SERVER_GO) GOBIN=$(BIN)/.temporal-build $(GO) install \
		go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	rm -rf $(BIN)/temporal-schema && mkdir -p $(BIN)/temporal-schema
	cp -r "$$($(GO) env GOMODCACHE)/go.temporal.io/server@$(TEMPORAL_SERVER_VERSION)/schema/postgresql" $(BIN)/temporal-schema/
	chmod -R u+w $(BIN)/temporal-schema && find $(BIN)/temporal-schema -name '*.go' -delete
	mv $(BIN)/.temporal-build/sql $(BIN)/temporal-sql-tool
	mv $(BIN)/.temporal-build/server $(BIN)/temporal-server
	rmdir $(BIN)/.temporal-build

bin/temporal-ui-server:
	GOBIN=$(BIN)/.ui-build $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$(TEMPORAL_UI_VERSION)
	mv $(BIN)/.ui-build/server $(BIN)/temporal-ui-server
	rmdir $(BIN)/.ui-build

## bench: to-key latency and throughput on the dev server and on the cluster shape,
## against a bare Temporal round trip and a bare Postgres read (docs/performance.md)
BENCH_N ?= 300
bench: build bin/temporal cluster-tools postgres
	$(GO) run ./cmd/keysmith-load -shape dev,cluster -n $(BENCH_N) -c 1,8,32,64 -rate 10 \
		-json docs/performance/results.json -png docs/performance/latency.png | tee docs/performance/results.md

## import-bench: keysmith import qlm of IMPORT_ROWS generated licenses (100,000), rows/s and peak memory
IMPORT_ROWS ?= 100000
import-bench: bin/temporal postgres
	KEYSMITH_IMPORT_ROWS=$(IMPORT_ROWS) $(GO) test -count=1 -v -run TestImportLarge -timeout 90m ./e2e/

## webhook-bench: a storefront webhook's time from arrival to acknowledgement, beside the key generator's answer
WEBHOOK_CALLS ?= 300
webhook-bench: bin/temporal postgres
	KEYSMITH_WEBHOOK_CALLS=$(WEBHOOK_CALLS) $(GO) test -count=1 -v -run TestWebhookAckBench -timeout 30m ./e2e/

## chaos: kill workers, APIs, Temporal and Postgres, and fail Resend, under load on the
## cluster shape; then check every order (make test runs the short form)
chaos: build cluster-tools postgres
	KEYSMITH_CHAOS=long $(GO) test -count=1 -v -run TestChaos -timeout 40m ./e2e/chaos/

## fuzz: every fuzz target for FUZZTIME each (their seeds also run in make test)
FUZZTIME ?= 1m
FUZZ_TARGETS = storefront/shareit:FuzzReadCall qlm:FuzzParseFeatures storefront/fastspring:FuzzDecodeWebhook license:FuzzVerify license:FuzzVerifyComputer \
	license:FuzzVerifyAnswer license:FuzzIsShortKey
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "$${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ || exit 1; \
	done

bin/temporal:
	GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

bin/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

bin/workflowcheck:
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

## chromium: Debian's chromium, for the test that drives the Temporal UI
chromium:
	@command -v chromium >/dev/null || { \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## verifier-deps: Node.js, Python's cryptography, libsodium, libcurl, jansson and Mono's C# compiler (Debian's), for the verifiers and examples
verifier-deps:
	@command -v node >/dev/null && /usr/bin/python3 -c 'import cryptography' 2>/dev/null && test -f /usr/include/sodium.h && test -f /usr/include/jansson.h && command -v curl-config >/dev/null && command -v mcs >/dev/null && command -v mono >/dev/null && test -f /usr/lib/mono/4.5/System.Runtime.Serialization.dll || { \
		echo "installing Debian's nodejs, python3-cryptography, libsodium-dev, libcurl4-openssl-dev, libjansson-dev, mono-mcs and mono-runtime for the verifiers"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev nodejs python3-cryptography libsodium-dev libcurl4-openssl-dev libjansson-dev mono-mcs mono-runtime libmono-system-runtime-serialization4.0-cil >/dev/null; }

## screenshots: re-take docs/images/*.png from the browser test
screenshots: bin/temporal postgres chromium
	KEYSMITH_SCREENSHOT_DIR=$(CURDIR)/docs/images $(GO) test -count=1 -run TestSupportInTheTemporalUI ./e2e/

## postgres: start the local PostgreSQL cluster if it is not answering
postgres:
	@scripts/ensure-postgres.sh

## history: re-record the replay test's current histories from real runs
## (keep an earlier release's in a dated folder of workflows/testdata first)
history: bin/temporal postgres
	mkdir -p workflows/testdata
	KEYSMITH_RECORD_HISTORY_DIR=$(CURDIR)/workflows/testdata $(GO) test -count=1 -run "TestNewOrderEndToEnd|TestPermanentMailFailure|TestRenewalAuditTrail|TestWarningsInHistory|TestSupportResend|TestNoKeyWithoutSale|TestImportFromQLM|TestForwardMode|TestFastSpringWebhookReleasesAHeldLine|TestFastSpringRefundRevokes" ./e2e/

clean:
	rm -rf bin .data
