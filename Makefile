# CarePath: `make demo` runs the system, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv need not be on PATH (`make setup` installs it in ~/.local/bin): recipes, scripts and tests
# use this absolute path, exported as UV (tests/support.py reads it).
UV := $(abspath $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv))
export UV
# KAFKA_BROKERS=3 (`make up KAFKA_BROKERS=3`; `down` and `status` find out for themselves): a local
# cluster of three KRaft nodes, each broker and controller, clients on 9092-9094 and controllers on
# 9095-9097 (infra/kafka/kafka.sh); topics get replication factor 3 and min.insync.replicas=2, and
# carepath-topics, the services and the tools get every node in KAFKA_BOOTSTRAP_SERVERS.
KAFKA_BROKERS ?= 1
ifeq ($(KAFKA_BROKERS),1)
LOCAL_KAFKA := localhost:9092
else
export KAFKA_BROKERS
ifndef KAFKA_BOOTSTRAP_SERVERS
KAFKA_BOOTSTRAP_SERVERS := $(shell KAFKA_BROKERS='$(KAFKA_BROKERS)' infra/kafka/kafka.sh bootstrap)
endif
export KAFKA_BOOTSTRAP_SERVERS
export KAFKA_REPLICATION_FACTOR ?= $(if $(filter 2,$(KAFKA_BROKERS)),2,3)
LOCAL_KAFKA := $(KAFKA_BOOTSTRAP_SERVERS)
endif
PYTEST_ARGS ?=
N ?= 50
SEED ?= 2026

ASYNCAPI_TOOL := contracts/tools/asyncapi-validate

.PHONY: help setup deploy-tools kafka-jars postgres contracts-tools contracts browser test faults up down demo demo-check seed status lint format bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	infra/install-uv.sh

setup: $(UV) ## install uv if missing and sync the workspace (.venv)
	$(UV) sync --locked --quiet

KUSTOMIZE_VERSION := v5.8.2
KUSTOMIZE := deploy/.bin/kustomize
# helm, built from its Go module like kustomize. Built so, it reports only "v3.22" (the release
# build sets the patch through -ldflags), so its version is read from the module it was built from.
HELM_VERSION := v3.22.0
HELM := deploy/.bin/helm
# promtool, for the alert rules' checks and unit tests; the Go module of Prometheus 3.x tags its
# release 3.N.P as v0.3NN.P (v0.316.0: Prometheus 3.16.0). Its version is read as helm's is.
PROMTOOL_VERSION := v0.316.0
PROMTOOL := deploy/.bin/promtool

deploy-tools: $(KUSTOMIZE) $(HELM) $(PROMTOOL) ## install kustomize, helm and promtool (Go module proxy) into deploy/.bin, for tests/deploy

$(KUSTOMIZE):
	@command -v go >/dev/null || { echo "deploy-tools needs Go (https://go.dev/dl/)"; exit 1; }
	GOBIN=$(CURDIR)/deploy/.bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	@$(KUSTOMIZE) version | grep -qx '$(KUSTOMIZE_VERSION)' || { echo "unexpected kustomize version"; exit 1; }

$(HELM):
	@command -v go >/dev/null || { echo "deploy-tools needs Go (https://go.dev/dl/)"; exit 1; }
	GOBIN=$(CURDIR)/deploy/.bin go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@go version -m $(HELM) | grep -qE '^\s+mod\s+helm\.sh/helm/v3\s+$(HELM_VERSION)\s' && $(HELM) version >/dev/null \
		|| { rm -f $(HELM); echo "unexpected helm version (want $(HELM_VERSION))"; exit 1; }

$(PROMTOOL):
	@command -v go >/dev/null || { echo "deploy-tools needs Go (https://go.dev/dl/)"; exit 1; }
	GOBIN=$(CURDIR)/deploy/.bin go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
	@go version -m $(PROMTOOL) | grep -qE '^\s+mod\s+github\.com/prometheus/prometheus\s+$(PROMTOOL_VERSION)\s' && $(PROMTOOL) --version >/dev/null \
		|| { rm -f $(PROMTOOL); echo "unexpected promtool version (want $(PROMTOOL_VERSION))"; exit 1; }

kafka-jars: ## fetch the Apache Kafka broker jars from Maven Central (once)
	infra/kafka/kafka.sh fetch

postgres: ## install Debian's PostgreSQL if missing (for the tests)
	infra/postgres/pg.sh install

CLOUDEVENTS_TOOL := contracts/tools/cloudevents-read

contracts-tools: $(ASYNCAPI_TOOL)/node_modules/.package-lock.json $(CLOUDEVENTS_TOOL)/node_modules/.package-lock.json ## install the AsyncAPI parser and the CloudEvents JavaScript SDK (npm ci)

%/node_modules/.package-lock.json: %/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	cd $* && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

contracts: setup contracts-tools ## regenerate contracts/schemas and contracts/asyncapi.yaml (refuses breaking changes), validate
	$(UV) run carepath-contracts generate
	node $(ASYNCAPI_TOOL)/validate.mjs contracts/asyncapi.yaml

browser: ## install Debian's Chromium if missing (the dashboard's browser test drives it)
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: setup deploy-tools kafka-jars postgres contracts-tools browser ## run every test (starts its own Kafka broker and PostgreSQL)
	$(UV) run pytest $(PYTEST_ARGS)

faults: setup kafka-jars postgres ## only the fault trials (kill services, brokers, replicas; poison), with their table (part of `make test` too)
	$(UV) run pytest tests/faults -p no:cacheprovider $(PYTEST_ARGS)

up: setup kafka-jars ## start the local broker (KAFKA_BROKERS=3: a cluster) and every service in the background, wait until ready
	infra/kafka/kafka.sh start
	$(UV) run carepath-topics
	infra/services.sh start

down: ## stop the services and the local broker (every node of a cluster)
	-infra/services.sh stop
	infra/kafka/kafka.sh stop

status: ## what is running
	@infra/services.sh status
	@infra/kafka/kafka.sh status && echo "kafka running on $$(KAFKA_BROKERS= infra/kafka/kafka.sh bootstrap)" || echo "kafka stopped (or not every node runs)"

seed: setup ## drive a synthetic cohort of N patients through the running services (N=50 SEED=2026)
	$(UV) run carepath-seed --patients $(N) --seed $(SEED)

demo: up ## start everything, seed a synthetic clinic cohort, print where to look
	@$(MAKE) --no-print-directory seed
	@token=$$($(UV) run carepath-token clinician --sub demo-clinician) && echo && \
		echo "CarePath is running." && \
		echo "  dashboard   http://127.0.0.1:8000   (sign in: paste this clinician's token into its form)" && \
		echo "              $$token"
	@echo "  intake      http://127.0.0.1:8001/docs"
	@echo "  eligibility http://127.0.0.1:8002/docs"
	@echo "  session     http://127.0.0.1:8003/docs"
	@echo "  integration http://127.0.0.1:8004/docs"
	@echo "  audit       http://127.0.0.1:8005/docs   ($(UV) run carepath-audit verify)"
	@echo "  kafka       $(LOCAL_KAFKA)"
	@echo
	@echo "Walk a patient through intake: README.md, section 'Try it: an intake'."
	@echo "A token for the APIs: $(UV) run carepath-token intake_coordinator --sub you"
	@echo "Stop everything with: make down"

demo-check: setup browser ## after `make demo`: the dashboard shows the seed's funnel and today's board (API, then a real browser)
	$(UV) run carepath-seed-check --patients $(N) --seed $(SEED)
	CAREPATH_DEMO_URL=http://127.0.0.1:8000 $(UV) run pytest -q -p no:cacheprovider \
		tests/e2e/test_dashboard_browser.py -k test_the_demo_shows

lint: setup ## ruff and mypy --strict
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy contracts/src $(wildcard services/*/src) infra/seed/src

format: setup ## apply ruff's formatting and safe fixes
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: setup kafka-jars postgres ## measure the write path, relay, audit verify, projection against references (BENCH_ARGS="--events 2000")
	$(UV) sync --locked --group bench --quiet
	$(UV) run --group bench python bench/run.py $(BENCH_ARGS)
