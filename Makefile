# CarePath: `make demo` runs the system, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
LOCAL_KAFKA := localhost:9092
PYTEST_ARGS ?=

.PHONY: help setup kafka-jars postgres test up down demo status lint format

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --user --quiet uv

setup: $(UV) ## install uv if missing and sync the workspace (.venv)
	$(UV) sync --locked --quiet

kafka-jars: ## fetch the Apache Kafka broker jars from Maven Central (once)
	infra/kafka/kafka.sh fetch

postgres: ## install Debian's PostgreSQL if missing (for the tests)
	infra/postgres/pg.sh install

test: setup kafka-jars postgres ## run every test (starts its own Kafka broker and PostgreSQL)
	$(UV) run pytest $(PYTEST_ARGS)

up: setup kafka-jars ## start the local broker and every service in the background, wait until ready
	infra/kafka/kafka.sh start
	$(UV) run carepath-topics
	infra/services.sh start

down: ## stop the services and the local broker
	-infra/services.sh stop
	infra/kafka/kafka.sh stop

status: ## what is running
	@infra/services.sh status
	@infra/kafka/kafka.sh status && echo "kafka running on $(LOCAL_KAFKA)" || echo "kafka stopped"

demo: up ## run the system locally and print where to look
	@echo
	@echo "CarePath is running."
	@echo "  intake      http://127.0.0.1:8001/docs"
	@echo "  kafka       $(LOCAL_KAFKA)"
	@echo
	@echo "Refer a patient:"
	@echo '  TOKEN=$$(uv run carepath-token intake_coordinator --sub you)'
	@echo '  curl -s -X POST http://127.0.0.1:8001/patients -H "Authorization: Bearer $$TOKEN" \'
	@echo '    -H "content-type: application/json" \'
	@echo "    -d '{\"given_name\":\"Ada\",\"family_name\":\"Byron\",\"date_of_birth\":\"1985-12-10\",\"referral_reason\":\"depression\",\"referrer\":\"Dr Lee\"}'"
	@echo "Stop everything with: make down"

lint: setup ## ruff and mypy --strict
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy contracts/src services/chassis/src services/intake/src

format: setup ## apply ruff's formatting and safe fixes
	$(UV) run ruff format .
	$(UV) run ruff check --fix .
