# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: deps install demo test bench bench-encoders bench-soak clean

deps:
	@CAMSTREAM_TEST_PACKAGES=1 bash scripts/install_deps.sh

$(STAMP): pyproject.toml scripts/install_deps.sh
	@bash scripts/install_deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[rtsp,web,test]'
	@touch $@

install: $(STAMP)

demo: install
	$(BIN)/camstream run --source testsrc --rtsp --record --snapshots --ssd-path ./.demo/capture

test: deps install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.encoders

# libx264 preset CPU at 720p30/1080p30 and PSNR per preset x profile at 2 Mb/s (its own section of results.md).
bench-encoders: install
	$(BIN)/python -m bench.encoders

# Every camstream process's CPU/RSS per minute over a 60-minute run with RTSP UDP/TCP and RTMP viewers
# attached (writes bench/soak.md).
bench-soak: install
	$(BIN)/python -m bench.soak --minutes 60

clean:
	rm -rf $(VENV) .demo .pytest_cache
