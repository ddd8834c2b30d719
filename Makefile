# Two commands matter (see README.md): `make run` and `make test`. Both bootstrap themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: help bootstrap run test lint typecheck imports pytest protocol-coverage format lock clean bundle test-bundle screenshots

help:
	@echo "make run    run the node on the local network (devnet)"
	@echo "make test   run the whole suite: lint, types, layer rules and tests"

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@$(BIN)/fizz-node check --profile devnet || true
	@$(PY) -m devnet.demo

test: bootstrap lint typecheck imports pytest protocol-coverage

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

imports:
	$(BIN)/lint-imports

pytest:
	@scripts/run-pytest.sh

# The tunnel's pure protocol modules must be covered completely by their own tests.
protocol-coverage:
	@$(BIN)/coverage run --branch --data-file=.coverage.protocol -m pytest -q -p no:cacheprovider \
		tests/gateway_client --ignore=tests/gateway_client/test_client.py >/dev/null
	$(BIN)/coverage report --data-file=.coverage.protocol --fail-under=100 -m \
		--include='gateway_client/frames.py,gateway_client/protocol.py,gateway_client/speedtest.py'

# PNGs of every page of the desktop app on a real local network (Xvfb + trayer) for the README.
screenshots: bootstrap
	$(PY) scripts/screenshots.py --out docs/screenshots

format: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock:
	scripts/lock.sh

clean:
	rm -rf $(VENV) tools/npm/node_modules .mypy_cache .ruff_cache .pytest_cache build dist

# The one-folder bundle dist/Fizz/ (Fizz + fizz-node), the .deb and the portable tar.gz in dist/.
bundle:
	@scripts/bootstrap.sh --bundle
	@installer/build_bundle.sh
	@installer/linux/build_deb.sh

# Builds the bundle and tests it (not the source tree); a separate pytest run keeps `make test` fast.
test-bundle: bundle
	@scripts/run-pytest.sh -p no:cacheprovider tests/bundle
