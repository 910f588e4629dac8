# memberlink — build, run and test. See README.md and docs/architecture.md.
#   make deps    install missing Debian packages (apt-get when root)
#   make         build into build/
#   make run     build, seed the demo data, start memberlinkd under ./var/
#   make test    make check, unit tests (plain and ASan+UBSan) and integration tests
#   make check   layers, banned functions and formatting (tests/check/)
#   make bench   benchmarks (print figures, never fail on time)

CC      ?= cc
PKGS    := sqlite3 libcjson libmicrohttpd libcurl openssl inih libmosquitto libqrencode zlib
DEBS    := build-essential pkg-config libsqlite3-dev libcjson-dev libmicrohttpd-dev \
           libcurl4-openssl-dev libssl-dev libinih-dev libcmocka-dev libmosquitto-dev \
           libqrencode-dev zlib1g-dev mosquitto curl sqlite3 clang-format

ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT     := -O1
HARDEN  :=
HARDEN_LD :=
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now
endif

WARN    := -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wstrict-prototypes -Wformat=2 \
           -Werror
CFLAGS  ?= $(OPT) -g
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -pthread $(WARN) $(HARDEN) $(CFLAGS) \
             $(SANFLAGS) $(TREE_INC) $(PKG_CFLAGS)
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
LDFLAGS += -pthread $(SANFLAGS) $(HARDEN_LD)

# ---- the trees and what each may include (docs/architecture.md) -------------------------------
# Every tree is compiled with its own include path: an include across a forbidden line does
# not build. tests/check/check.sh (make check) checks the same table over the sources.
INC_LIB    := -Ilib
INC_WIRE   := -Ilib -Isync/wire
INC_ENGINE := -Ilib -Isync/wire -Isync/engine
INC_AGENT  := -Ilib -Isync/wire -Isync/engine -Iagent -Iagent/config
INC_CONFIG := -Ilib -Iagent/config
INC_HQ     := -Ilib -Isync/wire -Ihq
INC_CLI    := -Ilib -Iagent/config -Icli
INC_ALL    := -Ilib -Isync/wire -Isync/engine -Iagent -Iagent/config -Ihq -Icli -I$(BUILD)/gen

$(BUILD)/lib/%.o:          TREE_INC = $(INC_LIB)
$(BUILD)/sync/wire/%.o:    TREE_INC = $(INC_WIRE)
$(BUILD)/sync/engine/%.o:  TREE_INC = $(INC_ENGINE)
$(BUILD)/agent/%.o:        TREE_INC = $(INC_AGENT)
$(BUILD)/agent/config/%.o: TREE_INC = $(INC_CONFIG)
$(BUILD)/hq/%.o:           TREE_INC = $(INC_HQ)
$(BUILD)/cli/%.o:          TREE_INC = $(INC_CLI)
$(BUILD)/gen/%.o:          TREE_INC =
$(BUILD)/tests/%.o:        TREE_INC = $(INC_ALL)
$(BUILD)/bench/%.o:        TREE_INC = $(INC_ALL)

LIB_SRC    := $(sort $(wildcard lib/*.c))
WIRE_SRC   := $(sort $(wildcard sync/wire/*.c))
ENGINE_SRC := $(sort $(wildcard sync/engine/*.c))
AGENT_SRC  := $(sort $(filter-out agent/main.c,$(wildcard agent/*.c)) agent/config/config.c)
HQ_SRC     := $(sort $(filter-out hq/main.c,$(wildcard hq/*.c)))
CLI_SRC    := $(sort $(wildcard cli/*.c))
AGENT_SQL  := $(sort $(wildcard agent/sql/*.sql))
HQ_SQL     := $(sort $(wildcard hq/sql/*.sql))

obj = $(1:%.c=$(BUILD)/%.o)
LIB_A    := $(BUILD)/libmlbase.a
WIRE_A   := $(BUILD)/libmlwire.a
ENGINE_A := $(BUILD)/libmlsync.a
AGENT_A  := $(BUILD)/libmlagent.a
HQ_A     := $(BUILD)/libmlhq.a
# Link order: a tree before the trees it may use.
AGENT_LIBS := $(AGENT_A) $(ENGINE_A) $(WIRE_A) $(LIB_A)
HQ_LIBS    := $(HQ_A) $(WIRE_A) $(LIB_A)
ALL_LIBS   := $(HQ_A) $(AGENT_A) $(ENGINE_A) $(WIRE_A) $(LIB_A)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/*_test.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/*_test.c))
BENCHES := $(BUILD)/bench/checkout $(BUILD)/bench/drain $(BUILD)/bench/hq_ingest $(BUILD)/bench/identify
FAULT_SHIM := $(BUILD)/tests/libfault.so

.PHONY: all deps run test unit-test integration-test bench clean format check
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

$(BUILD)/gen/agent_sql.c: lib/sql_embed.sh $(AGENT_SQL)
	@mkdir -p $(dir $@)
	sh lib/sql_embed.sh $@ agent_migrations $(AGENT_SQL)

$(BUILD)/gen/hq_sql.c: lib/sql_embed.sh $(HQ_SQL)
	@mkdir -p $(dir $@)
	sh lib/sql_embed.sh $@ hq_migrations $(HQ_SQL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC))
	ar rcs $@ $^
$(WIRE_A): $(call obj,$(WIRE_SRC))
	ar rcs $@ $^
$(ENGINE_A): $(call obj,$(ENGINE_SRC))
	ar rcs $@ $^
$(AGENT_A): $(call obj,$(AGENT_SRC)) $(BUILD)/gen/agent_sql.o
	ar rcs $@ $^
$(HQ_A): $(call obj,$(HQ_SRC)) $(if $(HQ_SQL),$(BUILD)/gen/hq_sql.o)
	ar rcs $@ $^

$(BUILD)/memberlinkd: $(BUILD)/agent/main.o $(AGENT_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/memberlink: $(call obj,$(CLI_SRC)) $(BUILD)/agent/config/config.o $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/memberlink-hq: $(BUILD)/hq/main.o $(HQ_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# cli/ is in no library: the test of its option parser links the object it tests.
$(BUILD)/tests/cli_options_test: $(BUILD)/tests/unit/cli_options_test.o $(BUILD)/cli/options.o \
                                 $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(BUILD)/tests/integration/harness.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The fault shim the storage tests preload (tests/fault/fault.c); never sanitized, never
# hardened: it runs inside other programs.
$(FAULT_SHIM): tests/fault/fault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Werror -shared -fPIC -o $@ $< -ldl

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/tests/integration/harness.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: deps all
	@bash packaging/demo/run.sh $(BUILD)

unit-test: deps $(UNIT_TESTS)
	@sh tests/run.sh unit $(UNIT_TESTS)

integration-test: deps all $(INTEG_TESTS) $(FAULT_SHIM)
	@ML_BIN=$(abspath $(BUILD)) sh tests/run.sh integration $(INTEG_TESTS) \
	  tests/integration/docs_test.sh tests/integration/fresh_boot_test.sh

# The layers, banned functions and formatting (tests/check/check.sh); then unit tests plain and
# under ASan+UBSan; integration tests against the plain daemon and against the ASan+UBSan
# daemon (a leak or overflow there fails the run).
test: deps
	$(MAKE) check
	$(MAKE) unit-test
	$(MAKE) SANITIZE=1 unit-test
	$(MAKE) integration-test
	$(MAKE) SANITIZE=1 integration-test

check:
	@sh tests/check/check.sh

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
#   qr_fuzz         QR codes (sync/wire/qr.h, base45.h)
#   hq_msg_fuzz     signed HQ messages: canon, sign_verify, inbox_handle and the fact schema
#   api_body_fuzz   local API bodies: identify, checkout (quote and sale), refund
#   hq_ingest_fuzz  HQ's ingest of store event batches (hq/hq_ingest.h)
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= qr_fuzz hq_msg_fuzz api_body_fuzz hq_ingest_fuzz
FUZZ_DEBS    := clang libclang-rt-dev
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -pthread -g -O1 $(FUZZ_SAN) \
                $(INC_ALL) -I$(FUZZ_BUILD)/gen $(PKG_CFLAGS)
FUZZ_SRC     := $(LIB_SRC) $(WIRE_SRC) $(ENGINE_SRC) $(AGENT_SRC) $(HQ_SRC)
FUZZ_OBJ     := $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/gen/agent_sql.o \
                $(if $(HQ_SQL),$(FUZZ_BUILD)/obj/gen/hq_sql.o)

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

$(FUZZ_BUILD)/gen/agent_sql.c: lib/sql_embed.sh $(AGENT_SQL)
	@mkdir -p $(dir $@)
	sh lib/sql_embed.sh $@ agent_migrations $(AGENT_SQL)

$(FUZZ_BUILD)/gen/hq_sql.c: lib/sql_embed.sh $(HQ_SQL)
	@mkdir -p $(dir $@)
	sh lib/sql_embed.sh $@ hq_migrations $(HQ_SQL)

$(FUZZ_BUILD)/obj/gen/%.o: $(FUZZ_BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/libml.a: $(FUZZ_OBJ)
	ar rcs $@ $^

$(FUZZ_BUILD)/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h $(FUZZ_BUILD)/libml.a
	clang $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libml.a $(LDLIBS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

.SECONDARY:
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
