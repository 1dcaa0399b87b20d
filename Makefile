# Two commands from a fresh clone:  `make chat`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: chat setup models rebuild-llama test-models test-tools test test-fast bench bench-gpu clean

chat: setup  ## Install everything (first run builds llama.cpp, ~10 min) and open the chat
	$(BIN)/assistant chat

setup: $(STAMP) models

# llama-cpp-python builds llama.cpp from source. Its llamafile matrix kernels (tinyBLAS)
# give wrong results for prompts of more than one token on some AVX2-only CPUs (AMD EPYC
# here: SmolLM2 answers "La femme de France..." to "What is the capital of France?");
# ggml's own kernels are right everywhere, so the build leaves llamafile out.
# Your own CMAKE_ARGS (e.g. -DGGML_CUDA=on) are kept.
LLAMA_CMAKE_ARGS := $(CMAKE_ARGS) -DGGML_LLAMAFILE=OFF
# ggml's AMX kernels (Intel Xeon, 4th generation on) crash with SIGSEGV in
# ggml_backend_amx_mul_mat on every prompt of more than one token on the Xeon VMs here,
# SmolLM2 and Gemma alike; the build's -march=native would turn them on, so they are left
# out (AVX-512 stays). A compiler that does not know the flags does not enable AMX anyway.
LLAMA_NO_AMX := $(shell echo | $(CC) -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -E - >/dev/null 2>&1 && \
  echo -mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
LLAMA_BUILD_ENV := CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CFLAGS="$(CFLAGS) $(LLAMA_NO_AMX)" CXXFLAGS="$(CXXFLAGS) $(LLAMA_NO_AMX)"
# A wheel pip built earlier (its cache ignores these settings) is rebuilt if it has either.
LLAMA_UNWANTED := b'LLAMAFILE = 1' in info or ($(if $(LLAMA_NO_AMX),True,False) and b'AMX_INT8 = 1' in info)

$(STAMP): pyproject.toml requirements-dev.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(LLAMA_BUILD_ENV) $(BIN)/python -m pip install -e '.[all,test]' -r requirements-dev.txt
	$(BIN)/python -c "import llama_cpp, sys; info = llama_cpp.llama_print_system_info(); sys.exit($(LLAMA_UNWANTED))" || \
	  { echo "llama-cpp-python was built with llamafile or AMX kernels: rebuilding without them"; \
	    $(MAKE) --no-print-directory rebuild-llama; }
	touch $(STAMP)

# Also the way to a GPU build: CMAKE_ARGS="-DGGML_CUDA=on" make rebuild-llama
rebuild-llama:  ## Build llama-cpp-python again (~7 min), with the flags above and your CMAKE_ARGS
	@test -x $(BIN)/python || { echo "no $(VENV) yet: run make setup first"; exit 1; }
	$(LLAMA_BUILD_ENV) $(BIN)/python -m pip install --force-reinstall --no-deps --no-cache-dir \
	  "llama-cpp-python==$$($(BIN)/python -c 'import llama_cpp; print(llama_cpp.__version__)')"

models: $(STAMP)  ## Fetch and verify the default model
	$(BIN)/assistant models pull smollm2

test-models: $(STAMP)  ## Models the real-model tests use
	$(BIN)/assistant models pull smollm2
	$(BIN)/assistant models pull gemma3-270m

test-tools:  ## System tools the tests use: tmux (real-terminal chat test), via apt-get when missing
	@command -v tmux >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
	  $$SUDO apt-get install -y tmux >/dev/null 2>&1 || { $$SUDO apt-get update && $$SUDO apt-get install -y tmux; }; }

test: setup test-models test-tools  ## Set up what the tests need and run the whole suite
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## Unit tests only (no real model)
	$(BIN)/python -m pytest -q -m "not model"

bench: setup test-models  ## Benchmarks; results go to docs/performance.md
	$(BIN)/python -m benchmarks.run

# On a CUDA machine: a CUDA torch, llama-cpp-python rebuilt with CUDA if it cannot offload,
# the tests marked gpu, then the GPU figures into docs/performance.md (benchmarks/gpu.py).
# Without a GPU it stops after setup and the models, with one line saying so.
bench-gpu: setup test-models  ## GPU tests and benchmarks (CUDA machine; results go to docs/performance.md)
	$(BIN)/python -m benchmarks.gpu prepare
	@$(BIN)/python -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)" || \
	  CMAKE_ARGS="$(CMAKE_ARGS) -DGGML_CUDA=on" $(MAKE) --no-print-directory rebuild-llama
	$(BIN)/python -m pytest -q -m gpu tests
	$(BIN)/python -m benchmarks.gpu run

clean:
	rm -rf $(VENV) build dist *.egg-info
