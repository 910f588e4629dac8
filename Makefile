# memberlink — build, run and test. See README.md.
#   make deps    install missing Debian packages (apt-get when root)
#   make         build into build/
#   make run     build, seed the demo data, start memberlinkd under ./var/
#   make test    unit tests (plain and ASan+UBSan) and integration tests
#   make bench   benchmarks (print figures, never fail on time)

CC      ?= cc
PKGS    := sqlite3 libcjson libmicrohttpd libcurl openssl inih libmosquitto libqrencode zlib
DEBS    := build-essential pkg-config libsqlite3-dev libcjson-dev libmicrohttpd-dev \
           libcurl4-openssl-dev libssl-dev libinih-dev libcmocka-dev libmosquitto-dev \
           libqrencode-dev zlib1g-dev mosquitto curl sqlite3

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := -O1
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2
endif

WARN    := -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes -Wformat=2 \
           -Wno-sign-conversion -Werror
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) $(SANFLAGS) \
             -Iagent -Isync -Isync/hq -I$(BUILD)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
LDFLAGS += -pthread $(SANFLAGS)

# Every module of agent/ and sync/ except the two programs' main files.
CORE_SRC := $(sort $(filter-out agent/main.c agent/cli.c,$(wildcard agent/*.c)) $(wildcard sync/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o
MIGRATIONS := $(sort $(wildcard agent/sql/*.sql))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/*_test.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/*_test.c))
BENCHES := $(BUILD)/bench/checkout $(BUILD)/bench/drain $(BUILD)/bench/hq_ingest $(BUILD)/bench/identify

.PHONY: all deps run test unit-test integration-test bench clean format
all: $(BUILD)/memberlinkd $(BUILD)/memberlink $(BUILD)/memberlink-hq

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "make deps: missing Debian packages; run:"; \
	  echo "  sudo apt-get install -y$$missing"; exit 1; \
	fi

$(BUILD)/gen/schema_sql.c: agent/sql/embed.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	sh agent/sql/embed.sh $@ $(MIGRATIONS)

$(BUILD)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libml.a: $(CORE_OBJ)
	ar rcs $@ $^

$(BUILD)/memberlinkd: $(BUILD)/agent/main.o $(BUILD)/libml.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/memberlink: $(BUILD)/agent/cli.o $(BUILD)/libml.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# memberlink-hq: the reference HQ (sync/hq/)
HQ_SRC := $(sort $(wildcard sync/hq/*.c))
HQ_OBJ := $(HQ_SRC:%.c=$(BUILD)/%.o)

# The HQ modules without main(), for memberlink-hq and the hq_* unit tests.
$(BUILD)/libmlhq.a: $(filter-out $(BUILD)/sync/hq/main.o,$(HQ_OBJ))
	ar rcs $@ $^

$(BUILD)/memberlink-hq: $(BUILD)/sync/hq/main.o $(BUILD)/libmlhq.a $(BUILD)/libml.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libmlhq.a $(BUILD)/libml.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(BUILD)/tests/integration/harness.o $(BUILD)/libml.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/tests/integration/harness.o $(BUILD)/libmlhq.a $(BUILD)/libml.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: deps all
	@bash packaging/demo/run.sh $(BUILD)

unit-test: deps $(UNIT_TESTS)
	@sh tests/run.sh unit $(UNIT_TESTS)

integration-test: deps all $(INTEG_TESTS)
	@ML_BIN=$(abspath $(BUILD)) sh tests/run.sh integration $(INTEG_TESTS) tests/integration/docs_test.sh

# Unit tests plain and under ASan+UBSan; integration tests against the plain daemon and
# against the ASan+UBSan daemon (a leak or overflow there fails the run).
test: deps
	$(MAKE) unit-test
	$(MAKE) SANITIZE=1 unit-test
	$(MAKE) integration-test
	$(MAKE) SANITIZE=1 integration-test

bench: deps all $(BENCHES)
	ML_BIN=$(abspath $(BUILD)) $(BUILD)/bench/checkout
	ML_BIN=$(abspath $(BUILD)) $(BUILD)/bench/drain
	ML_BIN=$(abspath $(BUILD)) $(BUILD)/bench/identify
	$(BUILD)/bench/hq_ingest

# libFuzzer targets (tests/fuzz/), one per parser of outside input; not part of `make test`.
# Builds with clang (installed like `make deps` does) into $(FUZZ_BUILD)/ and runs each of
# FUZZ_TARGETS for FUZZ_SECONDS (so the whole run takes about their product), seeded from
# tests/fuzz/seeds/<target>/ (the QR target: the texts of tests/vectors/qr_vectors.json and
# tests/fuzz/corpus/) and with tests/fuzz/<target>.dict when there is one. What a run finds
# grows $(FUZZ_BUILD)/corpus/<target>/; a crash is saved as $(FUZZ_BUILD)/<target>-crash-*.
#   qr_fuzz         QR codes (agent/qr.h, agent/base45.h)
#   hq_msg_fuzz     signed HQ messages: canon, sign_verify, inbox_handle and the fact validators
#   api_body_fuzz   local API bodies: identify, checkout (quote and sale), refund
#   hq_ingest_fuzz  HQ's ingest of store event batches (sync/hq/hq_ingest.h)
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= qr_fuzz hq_msg_fuzz api_body_fuzz hq_ingest_fuzz
FUZZ_DEBS    := clang libclang-rt-dev
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -pthread -g -O1 $(FUZZ_SAN) \
                -Iagent -Isync -I$(FUZZ_BUILD)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIB_OBJ := $(CORE_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/gen/schema_sql.o
FUZZ_HQ_OBJ  := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out sync/hq/main.c,$(HQ_SRC)))

.PHONY: fuzz fuzz-build
fuzz: deps
	@missing=""; for p in $(FUZZ_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "make fuzz: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	elif [ -n "$$missing" ]; then \
	  echo "make fuzz: missing Debian packages; run:"; \
	  echo "  sudo apt-get install -y$$missing"; exit 1; \
	fi
	$(MAKE) fuzz-build
	@mkdir -p $(FUZZ_BUILD)/seeds/qr_fuzz
	@sed -n 's/^ *"text": "\(.*\)",$$/\1/p' tests/vectors/qr_vectors.json | \
	  awk -v dir=$(FUZZ_BUILD)/seeds/qr_fuzz '{ f = dir "/text-" NR; printf "%s", $$0 > f; close(f) }'
	@rc=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  if [ $$t = qr_fuzz ]; then seeds="$(FUZZ_BUILD)/seeds/qr_fuzz tests/fuzz/corpus"; \
	  else seeds=tests/fuzz/seeds/$$t; fi; \
	  dict=""; if [ -f tests/fuzz/$$t.dict ]; then dict=-dict=tests/fuzz/$$t.dict; fi; \
	  echo "make fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
	    -artifact_prefix=$(FUZZ_BUILD)/$$t- $(FUZZ_BUILD)/corpus/$$t $$seeds || rc=1; \
	done; exit $$rc

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

$(FUZZ_BUILD)/gen/schema_sql.c: agent/sql/embed.sh $(MIGRATIONS)
	@mkdir -p $(dir $@)
	sh agent/sql/embed.sh $@ $(MIGRATIONS)

$(FUZZ_BUILD)/obj/gen/%.o: $(FUZZ_BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libml.a: $(FUZZ_LIB_OBJ)
	ar rcs $@ $^

$(FUZZ_BUILD)/libmlhq.a: $(FUZZ_HQ_OBJ)
	ar rcs $@ $^

$(FUZZ_BUILD)/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h $(FUZZ_BUILD)/libmlhq.a $(FUZZ_BUILD)/libml.a
	clang $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libmlhq.a \
	  $(FUZZ_BUILD)/libml.a $(LDLIBS)

format:
	clang-format -i agent/*.c agent/*.h sync/*.c sync/*.h sync/hq/*.c sync/hq/*.h tests/*/*.c tests/*/*.h bench/*.c

clean:
	rm -rf build build-san build-fuzz

.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
