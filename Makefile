# snnconv — executable companion to "Adversarially Robust Spiking Neural Networks Through Conversion"
# (Özdenizci & Legenstein, TMLR 2024).
#
# Targets
#   make setup                 Debian packages (dataset-fashion-mnist, libtcmalloc-minimal4, chromium; only as
#                              root, a failure is reported and ignored), the venv .venv/ from requirements.lock plus an
#                              editable install of snnconv (stamp .venv/.installed: instant when nothing changed),
#                              and Fashion-MNIST unpacked under data/ (python -m snnconv.datasets.data --root data).
#   make book [PROFILE=...]    setup, import the profile's published store (store/$(PROFILE)/: the models and
#                              verdicts computed so far, in git; COLD=1 skips it), then execute every
#                              notebooks/*.ipynb with papermill into book/results/
#                              (-p profile $(PROFILE); default: default), then build the Jupyter Book into
#                              _build/html/ (open _build/html/index.html). The kernels' progress bars (training,
#                              calibration, attacks) stream to the terminal. Prints the total wall time and logs
#                              it with each notebook's (book/measurements/book_run.json, written when the run
#                              finishes; the Performance page shows it, cold or not).
#   make test                  setup, then ruff; one pytest run of the unit tests (among them the guard that
#                              store/default/ covers the default book: tests/test_published_store.py), the docstring examples
#                              (--doctest-modules snnconv) and every notebook at the smoke profile under nbval, on
#                              two workers (pytest-xdist, -n 2 --dist loadscope: a notebook's cells in order on one
#                              worker; the claims notebook first, beside the unit tests), one torch thread each;
#                              then the smoke book: every notebook executed with papermill, two at a time, one thread
#                              each (logs in _build/smoke/logs/), into a copy of the book under _build/smoke/, built,
#                              and checked in headless Chromium (tools/check_book.py; screenshots in
#                              _build/smoke/screenshots/) and its glue references checked against the executed
#                              notebooks (tools/check_glue.py). This is the project's test command (.ci/run calls it).
#   make smoke-book            only the smoke book and its browser check (part of make test).
#   make workflow [PROFILE=...] the same book as make book (the published store imported first), through the
#                              Snakemake workflow (workflow/Snakefile): one job per stored model and verdict, then
#                              the notebooks and the book; finished jobs are never re-run (see the Reproduce page
#                              for the cluster profile)
#   make published [COLD=1]    only the import of store/$(PROFILE)/ that make book and make workflow start with
#   make bench                 the Performance page's measurements (benchmarks/bench.py -> book/measurements/bench.json;
#                              about ten minutes; run it on an otherwise idle machine)
#   make book-cost [PROFILE=...] what the whole book costs from an empty store (benchmarks/book_cost.py ->
#                              book/measurements/book_cost.json): the recorded seconds of every stored artifact it
#                              uses and an estimate for each missing one (snnconv needs --estimate), and the cold
#                              rebuild's critical path and simulated makespan on 2, 16, 64 and 256 cores
#                              (snnconv.storage.schedule); plans every page, computes nothing (a minute or two)
#   make store-publish [PROFILE=...] copy the stored artifacts that the book uses at PROFILE from .snnconv-store/
#                              into its published store store/$(PROFILE)/ (records.jsonl.gz and the models' weights,
#                              snnconv.storage.published_store) and remove from it what the book no longer
#                              uses (e.g. verdicts superseded by a new attack revision) (commit it: the next clone
#                              renders them instead of recomputing; never the smoke profile, which CI computes every
#                              time)
#   make lint                  ruff check on the package, tests, tools, benchmarks and notebooks
#   make clean                 remove _build/ and book/results/ (never .venv/, data/ or .snnconv-store/)
#
# The notebooks in notebooks/ are the source: edit them in Jupyter (store them without outputs); nothing
# generates or rewrites them. make book and make test write executed copies elsewhere.
#
# Variables
#   PROFILE=smoke|default|paper   notebook profile for `make book` (default: default)
#   JB_FLAGS="-W -n --keep-going" extra flags for `jupyter-book build` (e.g. to turn warnings into errors)
#   OMP_NUM_THREADS=N             torch threads (default 2; MKL_NUM_THREADS follows it); make test and smoke-book
#                                 run TEST_JOBS processes of one thread each instead
#   TEST_JOBS=N                   pytest workers and notebooks at a time in make test and smoke-book (default 2)
#
# Every recipe runs with OMP_NUM_THREADS/MKL_NUM_THREADS, PYTHONUNBUFFERED=1 and, when the file exists,
# LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 (torch measured 1.5-3x faster with it on CPU).
# Tools are always called by path from .venv/bin; no shell activation is needed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
DATA_ROOT := data
BOOK_LOG  := _build/book_run.json
PUBLISHED  = store/$(PROFILE)
COLD      ?=
PROFILE   ?= default
JB_FLAGS  ?=
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
DEB_PACKAGES := dataset-fashion-mnist libtcmalloc-minimal4 chromium

# ---- environment of every recipe -------------------------------------------------------------------------
OMP_NUM_THREADS ?= 2
MKL_NUM_THREADS ?= $(OMP_NUM_THREADS)
export OMP_NUM_THREADS MKL_NUM_THREADS
export PYTHONUNBUFFERED := 1
TCMALLOC := /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
ORIG_LD_PRELOAD := $(LD_PRELOAD)
# Recursively expanded on purpose: re-checked for every recipe line, so it also takes effect right after
# `setup` installed libtcmalloc-minimal4 within the same make run. Without the file the caller's value stays.
export LD_PRELOAD = $(if $(shell test -e $(TCMALLOC) && echo yes),$(TCMALLOC),$(ORIG_LD_PRELOAD))

.PHONY: help setup system-packages data published book smoke-book test lint clean bench book-cost workflow store-publish

help:
	@sed -n '1,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# ---- setup ------------------------------------------------------------------------------------------------
setup: system-packages $(STAMP) data

system-packages:
	@missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; }; then \
	    echo "setup: WARNING: apt-get install of$$missing failed; continuing without them" \
	         "(Fashion-MNIST falls back to torchvision's download; torch runs without tcmalloc;" \
	         "the browser check of make test cannot run without chromium)." >&2; \
	  fi; \
	else \
	  echo "setup: note: Debian packages$$missing are not installed and cannot be (not root or no apt-get);" \
	       "Fashion-MNIST falls back to torchvision's download, torch runs with the default allocator," \
	       "and the browser check of make test needs chromium." >&2; \
	fi

# The lock in two steps (see its header): every line but those marked "# no-deps" through pip's resolver, then the
# marked ones (torchattacks) without their declared dependencies: torchattacks 3.5.1 pins requests~=2.25.1, which it
# never imports, and would otherwise force versions listed in requirements.deny. `pip check` reports that pin as
# unmet; that is expected.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || { echo "setup: creating $(VENV)/"; python3 -m venv $(VENV); }
	$(PY) -m pip install -r <(grep -Ev '^[^#].*#[[:space:]]*no-deps' requirements.lock)
	$(PY) -m pip install --no-deps -r <(grep -E '^[^#].*#[[:space:]]*no-deps' requirements.lock || true)
	$(PY) -m pip install --no-deps -e .
	@touch $@

data: $(STAMP)
	$(PY) -m snnconv.datasets.data --root $(DATA_ROOT)

# ---- book -------------------------------------------------------------------------------------------------
# The published store of PROFILE into .snnconv-store/ (what is missing there, each artifact checked): make book and
# make workflow then compute only what nobody has published yet. COLD=1 leaves the store as it is.
published: setup
	@if [ -z "$(COLD)" ] && [ -d $(PUBLISHED) ]; then \
	  echo "published: importing $(PUBLISHED)/ into the artifact store (COLD=1 skips this)"; \
	  $(PY) -m snnconv import $(PUBLISHED); \
	fi

book: published
	@start=$$(date +%s); \
	mkdir -p book/results; \
	$(PY) -m benchmarks.book_run start --log $(BOOK_LOG) --profile $(PROFILE); \
	for nb in $(NOTEBOOKS); do \
	  name=$$(basename "$$nb" .ipynb); \
	  echo "book: papermill $$nb -> book/results/$$name.ipynb (profile=$(PROFILE))"; \
	  t0=$$(date +%s); \
	  $(VENV)/bin/papermill -k python3 --log-output "$$nb" "book/results/$$name.ipynb" -p profile $(PROFILE); \
	  seconds=$$(( $$(date +%s) - t0 )); \
	  echo "book: $$name done in $$seconds s"; \
	  $(PY) -m benchmarks.book_run page --log $(BOOK_LOG) --name "$$name" --seconds $$seconds; \
	done; \
	$(VENV)/bin/jupyter-book build . --path-output . $(JB_FLAGS); \
	$(PY) tools/check_glue.py . _build/html; \
	s=$$(( $$(date +%s) - start )); \
	$(PY) -m benchmarks.book_run finish --log $(BOOK_LOG) --seconds $$s --out book/measurements/book_run.json; \
	printf 'book: total wall time %dh%02dm%02ds (profile=%s); open _build/html/index.html\n' \
	  $$((s / 3600)) $$((s % 3600 / 60)) $$((s % 60)) "$(PROFILE)"

# ---- test -------------------------------------------------------------------------------------------------
# make test runs two things at a time (TEST_JOBS), each with ONE torch thread: on CI's two cores two one-thread
# processes beat one two-thread process for these small models, and planning, imports and plotting use one core
# anyway. The claims notebook is most of the smoke profile's compute (most of the other pages' models and verdicts
# too, through the shared artifact store), so it starts first in both runs, not last and then alone.
TEST_JOBS ?= 2
FIRST_NOTEBOOK := notebooks/claims.ipynb
LONGEST_FIRST := $(FIRST_NOTEBOOK) $(filter-out $(FIRST_NOTEBOOK),$(NOTEBOOKS))

# One pytest run: unit tests, docstring examples and every notebook at the smoke profile under nbval
# (SNNCONV_PROFILE is read only by the notebooks' parameters cell), after ruff; then the smoke book.
# pytest-xdist's workers take whole work units in the command line's order (--dist loadscope: a test module, a
# module's doctests, or ALL cells of one notebook, run in order in one kernel; --no-loadscope-reorder: no sorting
# by size, which would put the 206-test schedule module before the notebooks): the claims notebook on one worker
# while the other runs the unit tests, then the other notebooks (mostly loading what claims stored; the store is
# safe for two processes: one computes an artifact, the other waits and loads it) and the doctests. Each worker
# and each notebook kernel uses one torch thread (tests/conftest.py).
test: setup
	$(VENV)/bin/ruff check snnconv tests tools benchmarks notebooks book/_ext
	SNNCONV_PROFILE=smoke OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/pytest -n $(TEST_JOBS) --dist loadscope \
	  --no-loadscope-reorder $(FIRST_NOTEBOOK) tests $(filter-out $(FIRST_NOTEBOOK),$(NOTEBOOKS)) snnconv \
	  --doctest-modules --nbval-lax --nbval-current-env
	$(MAKE) --no-print-directory smoke-book

# The smoke book is built from a copy of the book's sources, so it never overwrites book/results/ of `make book`.
# Models and verdicts come from the same artifact store as the nbval run above, so executing is mostly loading.
# The notebooks run TEST_JOBS at a time (xargs -P), claims first, each with one torch thread (OMP_NUM_THREADS=1:
# a notebook's threads = None follows it). Each one's papermill output goes to $(SMOKE)/logs/NAME.log and is printed
# under its name if it fails; the others still run, and then the recipe fails, naming every failed notebook.
SMOKE := _build/smoke
SMOKE_NOTEBOOK = nb=$$1; name=$$(basename "$$nb" .ipynb); log=$(SMOKE)/logs/$$name.log; t0=$$(date +%s); \
  echo "smoke-book: papermill $$nb (profile=smoke)"; \
  if $(VENV)/bin/papermill -k python3 --no-progress-bar "$$nb" "$(SMOKE)/src/book/results/$$name.ipynb" \
       -p profile smoke >"$$log" 2>&1; then \
    echo "smoke-book: $$name done in $$(( $$(date +%s) - t0 )) s"; \
  else \
    echo "$$nb" >>$(SMOKE)/logs/failed; \
    { echo "smoke-book: $$nb FAILED after $$(( $$(date +%s) - t0 )) s; papermill said ($$log):"; cat "$$log"; } >&2; \
    exit 1; \
  fi
smoke-book: setup
	@rm -rf $(SMOKE)/src $(SMOKE)/_build $(SMOKE)/screenshots $(SMOKE)/logs
	@mkdir -p $(SMOKE)/src/book/results $(SMOKE)/logs
	@cp _config.yml _toc.yml $(SMOKE)/src/
	@cp -r $$(ls -d book/* | grep -v '^book/results$$') $(SMOKE)/src/book/
	@start=$$(date +%s); rc=0; \
	printf '%s\n' $(LONGEST_FIRST) | OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  xargs -n 1 -P $(TEST_JOBS) bash -eu -o pipefail -c '$(SMOKE_NOTEBOOK)' smoke-book || rc=$$?; \
	if [ -s $(SMOKE)/logs/failed ]; then \
	  echo "smoke-book: failed: $$(tr '\n' ' ' < $(SMOKE)/logs/failed)(logs in $(SMOKE)/logs/)" >&2; exit 1; \
	fi; \
	[ "$$rc" = 0 ] || { echo "smoke-book: xargs failed (exit $$rc)" >&2; exit "$$rc"; }; \
	echo "smoke-book: $(words $(LONGEST_FIRST)) notebooks executed in $$(( $$(date +%s) - start )) s"
	$(VENV)/bin/jupyter-book build $(SMOKE)/src --path-output $(SMOKE) $(JB_FLAGS)
	$(PY) tools/check_book.py $(SMOKE)/_build/html --screenshots $(SMOKE)/screenshots
	$(PY) tools/check_glue.py $(SMOKE)/src $(SMOKE)/_build/html

# ---- workflow ---------------------------------------------------------------------------------------------
# Artifact jobs use one torch thread each (two jobs on two cores); the rerun triggers leave out file times, so a
# stored artifact is never recomputed because another one was stored after it.
workflow: published
	$(VENV)/bin/snakemake -s workflow/Snakefile -c$(OMP_NUM_THREADS) --config profile=$(PROFILE) \
	  --rerun-triggers input params software-env code

# ---- bench ------------------------------------------------------------------------------------------------
# The Performance page's figures (book/measurements/bench.json): run it on an otherwise idle machine.
bench: setup
	$(PY) -m benchmarks.bench --out book/measurements/bench.json

# What the whole book costs cold at PROFILE: recorded seconds of the stored artifacts, estimates for the missing
# (book/measurements/book_cost.json; seconds, no compute). Run it where the store holds the profile's artifacts.
book-cost: setup
	$(PY) -m benchmarks.book_cost --profile $(PROFILE) --out book/measurements/book_cost.json

# The published store of PROFILE: what the book uses of .snnconv-store/, for git (make book imports it).
store-publish: setup
	@if [ "$(PROFILE)" = smoke ]; then \
	  echo "store-publish: the smoke profile is not published: CI computes it from nothing on every run." >&2; exit 2; fi
	$(PY) -m snnconv export $(PUBLISHED) $$($(PY) -m snnconv pages) -p profile $(PROFILE) --prune

# ---- lint / clean -----------------------------------------------------------------------------------------
lint: $(STAMP)
	$(VENV)/bin/ruff check snnconv tests tools benchmarks notebooks book/_ext

clean:
	rm -rf _build book/results
