# rollout: PGXS build of the extension, plus run / test / bench.
#
#   make            build the extension, the admin web UI (web/dist) and rollout-client
#   make install    install them into the PostgreSQL found by pg_config
#                   (rollout-client into its bindir, or CLIENT_BINDIR=...)
#   make run        install dependencies, build, start a local cluster in ./.data
#   make test       install dependencies, build, run every test suite
#   make bench      run the benchmarks in bench/
#   make soak       the soak and fault test for SOAK_SECONDS (default 600)

EXTVERSION := $(shell sed -n 's/^   "version": "\([^"]*\)".*/\1/p' META.json | head -n 1)
PG_CONFIG ?= pg_config

MODULE_big = rollout
OBJS = \
	extension/semver_core.o \
	extension/semver.o \
	extension/semver_ops.o \
	extension/semver_range.o \
	extension/semver_support.o \
	extension/rollout_hash.o \
	extension/rollout_crypto.o \
	extension/rollout_cache.o \
	extension/rollout_decide.o \
	extension/rollout_queue.o \
	extension/rollout_worker.o \
	extension/rollout_record.o \
	extension/rollout_request.o \
	extension/rollout_sign.o \
	extension/rollout_module.o

MODULEDIR = extension
# The install script of the current version is built from section files kept
# by concern, concatenated in this order (a later section may use what an
# earlier one made: a LANGUAGE sql body or a plpgsql variable's type must find
# its tables and types). Older versions keep their own install script
# (rollout--0.1.0.sql) and every release adds an upgrade script
# rollout--A--B.sql; test/t/009_install_equals_upgrade.pl checks that an
# install of this version and an upgraded one have the same catalog.
SQL_SECTIONS = \
	extension/sql/00_header.sql \
	extension/sql/10_types.sql \
	extension/sql/20_data_model.sql \
	extension/sql/30_requests.sql \
	extension/sql/40_decision.sql \
	extension/sql/50_events_stats.sql \
	extension/sql/60_admin_api.sql \
	extension/sql/70_accounts.sql \
	extension/sql/80_roles.sql \
	extension/sql/85_signing.sql
DATA = extension/rollout--0.1.0.sql $(wildcard extension/rollout--*--*.sql)
DATA_built = extension/rollout--$(EXTVERSION).sql extension/rollout.control
EXTRA_CLEAN = shim/rollout-http shim/rollout-http-asan web/dist \
	client/rollout-client client/rollout-client-asan client/unit-tests client/messages.gen.h \
	extension/ok_messages.gen.h

# pg_regress, one file per feature: sql/NAME.sql against expected/NAME.out
# (PGXS passes --inputdir=.). `make installcheck` runs them against the
# server of PGHOST/PGPORT/PGUSER, in a database contrib_regression; each test
# creates the extension itself. EXTRA_REGRESS_OPTS=--outputdir=DIR keeps the
# results out of the tree.
REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))

PG_CPPFLAGS = -Iextension
# Ed25519 signatures through OpenSSL (rollout_sign.c)
SHLIB_LINK += -lcrypto
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Werror

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# No server development files yet: only the targets that install them work.
all install:
	@echo "pg_config not found: run 'make run' or 'make test' (they install dependencies), or scripts/deps.sh" >&2
	@exit 1
else
include $(PGXS)
# `make` also builds the admin web UI (PGXS's own `all` builds the extension)
# and the reference client; `make install` installs the client too.
all: web/dist/index.html client/rollout-client
install: install-client
endif

# The admin web UI: web/dist is built by Vite when its sources or the message
# catalogs are newer; npm ci runs first when web/node_modules is missing or
# older than the lock file.
WEB_SRCS = $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json \
	web/vite.config.ts web/tsconfig.json $(wildcard i18n/*.json)

web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: run scripts/deps.sh" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: $(WEB_SRCS) web/node_modules/.package-lock.json
	cd web && npm run build
	@touch $@

.PHONY: web
web: web/dist/index.html

# PGXS does not track headers: every object depends on all of them.
$(OBJS): $(wildcard extension/*.h)

extension/rollout--$(EXTVERSION).sql: $(SQL_SECTIONS) Makefile
	cat $(SQL_SECTIONS) > $@

# an installation of the previous version must be able to reach this one
extension/rollout.control: extension/rollout.control.in META.json
	@[ -n "$$(ls extension/rollout--*--$(EXTVERSION).sql 2>/dev/null)" ] || \
		{ echo "no upgrade script to $(EXTVERSION) (version from META.json): add extension/rollout--A--$(EXTVERSION).sql" >&2; exit 1; }
	sed 's/@VERSION@/$(EXTVERSION)/' $< > $@

.PHONY: run test bench soak stop deps shim install-client

# rollout-client (client/): libcurl, OpenSSL (libcrypto) and jansson. Its
# messages are the client.* keys of i18n/*.json, compiled in.
CLIENT_SRCS = client/main.c client/util.c client/crypto.c client/net.c client/messages.c
CLIENT_HDRS = client/client.h client/net.h client/messages.gen.h
CLIENT_CFLAGS ?= -O2 -g
CLIENT_BINDIR ?= $(shell $(PG_CONFIG) --bindir)

# The signed envelope's "ok" message, from the catalogs (the shim's comes from them too).
extension/ok_messages.gen.h: i18n/en.json i18n/zh-CN.json extension/gen-ok-messages.pl
	perl extension/gen-ok-messages.pl i18n/en.json i18n/zh-CN.json > $@.tmp && mv $@.tmp $@
extension/rollout_sign.o extension/rollout_sign.bc: extension/ok_messages.gen.h

client/messages.gen.h: i18n/en.json i18n/zh-CN.json client/gen-messages.pl
	perl client/gen-messages.pl i18n/en.json i18n/zh-CN.json > $@.tmp && mv $@.tmp $@

client/rollout-client: $(CLIENT_SRCS) $(CLIENT_HDRS)
	$(CC) $(CLIENT_CFLAGS) -std=gnu11 -Wall -Wextra -Werror -o $@ $(CLIENT_SRCS) -lcurl -lcrypto -ljansson

# the same client under AddressSanitizer and UBSan, for the end-to-end tests
client/rollout-client-asan: $(CLIENT_SRCS) $(CLIENT_HDRS)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
		-std=gnu11 -Wall -Wextra -Werror -o $@ $(CLIENT_SRCS) -lcurl -lcrypto -ljansson

# the client's parsers and crypto plumbing under AddressSanitizer and UBSan
client/unit-tests: test/client/unit_tests.c client/util.c client/crypto.c client/messages.c $(CLIENT_HDRS)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
		-std=gnu11 -Wall -Wextra -Werror -Iclient -o $@ test/client/unit_tests.c client/util.c \
		client/crypto.c client/messages.c -lcrypto

install-client: client/rollout-client
	install -d '$(DESTDIR)$(CLIENT_BINDIR)'
	install -m 755 client/rollout-client '$(DESTDIR)$(CLIENT_BINDIR)/rollout-client'

# The HTTP server: civetweb (no pkg-config file), libpq, jansson, OpenSSL's
# libcrypto (SHA-256 of uploads). One file per job: see shim/main.c.
SHIM_SRCS = $(sort $(wildcard shim/*.c))
SHIM_HDRS = $(wildcard shim/*.h)
SHIM_LIBS = -L$(shell $(PG_CONFIG) --libdir) -lpq -lcivetweb -ljansson -lcrypto -lpthread
SHIM_CFLAGS ?= -O2 -g
shim: shim/rollout-http

shim/rollout-http: $(SHIM_SRCS) $(SHIM_HDRS)
	$(CC) $(SHIM_CFLAGS) -std=gnu11 -Wall -Wextra -Werror -I$(shell $(PG_CONFIG) --includedir) \
		-o $@ $(SHIM_SRCS) $(SHIM_LIBS)

# The same server under AddressSanitizer and UBSan, for the HTTP tests.
shim/rollout-http-asan: $(SHIM_SRCS) $(SHIM_HDRS)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
		-std=gnu11 -Wall -Wextra -Werror -I$(shell $(PG_CONFIG) --includedir) \
		-o $@ $(SHIM_SRCS) $(SHIM_LIBS)

deps:
	scripts/deps.sh

run:
	scripts/run.sh

stop:
	scripts/run.sh --stop

test:
	scripts/test.sh

bench:
	bench/run.sh

# The soak and fault test (test/soak/) for SOAK_SECONDS (default 600): its own
# cluster, restarted under load; make test runs a short one (test/run-soak.sh).
SOAK_SECONDS ?= 600
soak:
	scripts/deps.sh
	$(MAKE) -s >/dev/null
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) -s install >/dev/null; else sudo $(MAKE) -s install >/dev/null; fi
	SOAK_SECONDS=$(SOAK_SECONDS) test/soak/soak.sh
