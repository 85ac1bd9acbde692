# classcast — the two commands: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
RUN_ARGS ?= --demo
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)

.PHONY: run test build web web-check deps test-deps services lint bench clean

## run: install what is missing, build, and serve on 127.0.0.1:8080 with a demo publisher
run: build
	$(TARGET_DIR)/debug/classcast serve $(RUN_ARGS)

## test: the whole suite (formatting, clippy, the web app's types, lint and unit
## tests, Rust unit, API on SQLite and PostgreSQL, media and browsers end to end)
test: test-deps lint web-check
	scripts/test.sh

build: deps web
	$(CARGO) build --bin classcast

## web: the pages (player/) bundled into player/dist, which the server serves
web:
	scripts/web.sh build

web-check: web
	scripts/web.sh check

deps:
	scripts/install-deps.sh run

test-deps:
	scripts/install-deps.sh test
	$(MAKE) web
	scripts/services.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## bench: WHIP timings, the HLS ladder against ffmpeg, live ladder CPU, recording/upload,
## the composed broadcast (3 publishers into the ladder),
## WHEP viewing (latency, first frame, fan-out vs Janus), the classroom WebSocket under
## 500 clients (ws_bench: 1000+ sockets, hence the open-files limit), and the class of 500
## (class_bench: publisher, ladder, recording, 100 WebRTC viewers and 500 sockets at once);
## writes BENCHMARKS.md
bench:
	scripts/install-deps.sh bench
	scripts/services.sh
	$(CARGO) build --release --bin classcast --examples
	$(TARGET_DIR)/release/examples/whip_bench
	$(TARGET_DIR)/release/examples/ladder_bench
	$(TARGET_DIR)/release/examples/recording_bench
	$(TARGET_DIR)/release/examples/compose_bench
	benches/netns.sh $(TARGET_DIR)/release/examples/whep_bench
	ulimit -Sn 4096 2>/dev/null; benches/netns.sh $(TARGET_DIR)/release/examples/class_bench
	ulimit -Sn 4096 2>/dev/null; $(TARGET_DIR)/release/examples/ws_bench

clean:
	rm -rf target data player/dist player/dist-test player/node_modules
