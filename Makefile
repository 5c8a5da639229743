# LAPENNA: two commands do everything on a fresh machine: `make book` and `make test`.
# Both install what they need into .venv first (see `make install`).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0

.PHONY: install test lint book

## install: create .venv with the pinned stack (requirements.txt) and lapenna_labs in editable mode
install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

## lint: ruff lint and format checks (part of `make test`)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: install, lint, then run the whole test suite (with the doctests of every package module)
test: lint
	$(BIN)/python -m pytest

.PHONY: test-fast sync
## test-fast: lint, then every test except the book build and the nbgrader runs (quick iteration)
test-fast: lint
	$(BIN)/python -m pytest -m "not book and not grading"

## sync: rewrite what is derived from the course manifest course.yml (_toc.yml, the README's week table)
sync: $(STAMP)
	$(BIN)/python -m lapenna_labs.course sync

# ---- book ----
## book: install, then build and execute the whole Jupyter Book (warnings are errors).
## Execution is cached in _build/.jupyter_cache: only chapters whose code changed run again.
## The cache keys on a chapter's own code, so a change to lapenna_labs drops it: every
## chapter then runs again and no page shows numbers from the old package.
PACKAGE_STAMP := _build/.package-executed
book: $(STAMP) sync book-cache
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W --keep-going || exit 1; \
	touch $(PACKAGE_STAMP); \
	echo "Book built in $$(( $$(date +%s) - start )) s. Open file://$(CURDIR)/_build/html/index.html"

.PHONY: book-cache
## book-cache: drop the execution cache when lapenna_labs may have changed since it was filled
## (the cache sees only a chapter's own cells); `make book` and the book tests run it first
book-cache:
	@if [ -d _build/.jupyter_cache ] && { [ ! -f $(PACKAGE_STAMP) ] || \
	  [ -n "$$(find lapenna_labs \( -name '*.py' -o -name '*.json' \) -newer $(PACKAGE_STAMP))" ]; }; then \
	  echo "lapenna_labs changed since the cached chapters ran (or no build recorded when): re-executing every chapter"; \
	  rm -rf _build/.jupyter_cache; \
	fi

.PHONY: book-clean
## book-clean: drop the built book and its execution cache (the next `make book` runs every chapter)
book-clean:
	rm -rf _build/html _build/jupyter_execute _build/.doctrees _build/.jupyter_cache $(PACKAGE_STAMP)

# ---- labs and grading ----
.PHONY: labs grade grade-demo
LAB ?=

## labs: regenerate the nbgrader masters, the student versions labs/labNN.ipynb and the demo submissions
labs: $(STAMP)
	$(BIN)/python autograder/build_labs.py
	$(BIN)/python autograder/make_demo.py > /dev/null

## grade: autograde autograder/submitted/*/$(LAB)/ -> feedback HTML + autograder/grades_$(LAB).csv (LAB=labNN)
## JOBS: submissions graded at once, each in the bubblewrap sandbox (default: all cores);
## FORCE=1 re-grades unchanged submissions too (for a fresh JOBS=1 vs JOBS=N throughput figure)
## EXECUTOR=slurm grades on a SLURM cluster: a job array of SHARDS shards (default: automatic),
## at most MAX_RUNNING at once, JOBS workers each; PARTITION, ACCOUNT, SHARD_TIME (01:00:00),
## SHARD_MEM (16G) and SBATCH_LINES (extra #SBATCH lines, ';'-separated) go to sbatch
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
FORCE ?=
EXECUTOR ?= local
SHARDS ?=
MAX_RUNNING ?=
PARTITION ?=
ACCOUNT ?=
SHARD_TIME ?=
SHARD_MEM ?=
SBATCH_LINES ?=
grade: $(STAMP)
	@test -n "$(LAB)" || { echo "usage: make grade LAB=labNN (e.g. LAB=lab03)"; exit 2; }
	$(BIN)/python autograder/grade.py $(LAB) --jobs $(JOBS) $(if $(FORCE),--force) \
	  --executor $(EXECUTOR) $(if $(SHARDS),--shards $(SHARDS)) \
	  $(if $(MAX_RUNNING),--max-running $(MAX_RUNNING)) $(if $(PARTITION),--partition $(PARTITION)) \
	  $(if $(ACCOUNT),--account $(ACCOUNT)) $(if $(SHARD_TIME),--shard-time $(SHARD_TIME)) \
	  $(if $(SHARD_MEM),--shard-memory $(SHARD_MEM)) $(if $(SBATCH_LINES),--sbatch-line="$(SBATCH_LINES)")

## grade-demo: grade the five bundled demo submissions of lab01 in a temporary course and print the table
grade-demo: $(STAMP)
	$(BIN)/python autograder/grade.py --demo --cell-timeout 20 --jobs $(JOBS)

# ---- benchmarks ----
.PHONY: bench bench-mlp bench-timing bench-conv bench-cnn bench-sequences bench-gpu bench-book bench-grading bench-all

## bench: the CPU benchmarks (MLP seconds/epoch vs NumPy/PyTorch/Keras; GEMM timing vs
## torch.utils.benchmark, and vs CUDA events where a GPU is visible; conv loops vs im2col vs
## PyTorch; LeNet CNN seconds/epoch vs PyTorch/Keras; attention vs torch SDPA and the tiny
## GPT's tokens/s) -> bench/results/*.json
bench: bench-mlp bench-timing bench-conv bench-cnn bench-sequences

bench-mlp: $(STAMP)
	$(BIN)/python bench/bench_mlp.py
	$(BIN)/python bench/report.py

bench-timing: $(STAMP)
	$(BIN)/python bench/bench_timing.py
	$(BIN)/python bench/report.py

bench-conv: $(STAMP)
	$(BIN)/python bench/bench_conv.py
	$(BIN)/python bench/report.py

bench-cnn: $(STAMP)
	$(BIN)/python bench/bench_cnn.py
	$(BIN)/python bench/report.py

## bench-sequences: NumPy attention fwd+bwd vs torch SDPA for T = 128..2048; the tiny GPT's
## training and generation tokens/s with and without the KV cache
bench-sequences: $(STAMP)
	$(BIN)/python bench/bench_sequences.py
	$(BIN)/python bench/report.py

## bench-gpu: on a machine with a CUDA GPU (and a CUDA build of torch in .venv), the GPU tests,
## then time_gemm vs CUDA events alone -> bench/results/timing_gpu.json (CPU figures untouched)
bench-gpu: $(STAMP)
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else \
	'bench-gpu: PyTorch ' + torch.__version__ + ' sees no CUDA GPU')"
	$(BIN)/python -m pytest -m gpu -q -p no:cacheprovider
	$(BIN)/python bench/bench_timing.py --no-cpu --out bench/results/timing_gpu.json
	$(BIN)/python bench/report.py

## bench-book: cold and cached build times of the book (minutes: runs every chapter)
bench-book: $(STAMP)
	$(BIN)/python bench/bench_book.py
	$(BIN)/python bench/report.py

## bench-grading: nbgrader serial autograde vs the parallel grader, 20 copies of each demo
bench-grading: $(STAMP)
	$(BIN)/python bench/bench_grading.py
	$(BIN)/python bench/report.py

## bench-all: all seven; bench/README.md is regenerated from bench/results/*.json after each
bench-all: bench bench-book bench-grading
