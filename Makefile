# mailport - see README.md. `make` builds build/mailport; `make run` and `make test` install
# what is missing first (scripts/install-deps, apt, needs root when something is missing).

CC      ?= cc
.DEFAULT_GOAL := all

PKGS    := libevent libevent_openssl openssl inih libunbound libcurl jansson libxml-2.0 zlib libpsl libpq hiredis
PKGDIR  ?= build/pkg
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing \
           $$(cat $(PKGDIR)/cflags)
LDLIBS  := $$(cat $(PKGDIR)/libs) -lcrypt -lzxcvbn -lpthread

# pkg-config runs in a rule, not when make reads this file: `make test` installs pkg-config
# and the -dev packages first (deps), and a module that does not resolve stops the build here
# with pkg-config's own message, never later as a compiler's "No such file or directory".
PKG := $(PKGDIR)/cflags
$(PKG) $(PKGDIR)/libs $(PKGDIR)/cmocka &: Makefile
	@mkdir -p $(PKGDIR)
	@pkg-config --cflags $(PKGS) > $(PKGDIR)/cflags.tmp || { rm -f $(PKGDIR)/*.tmp; \
		echo "pkg-config --cflags $(PKGS) failed (see above): run scripts/install-deps" >&2; exit 1; }
	@pkg-config --libs $(PKGS) > $(PKGDIR)/libs.tmp || { rm -f $(PKGDIR)/*.tmp; \
		echo "pkg-config --libs $(PKGS) failed (see above): run scripts/install-deps" >&2; exit 1; }
	@pkg-config --cflags --libs cmocka > $(PKGDIR)/cmocka.tmp || { rm -f $(PKGDIR)/*.tmp; \
		echo "pkg-config cmocka failed (see above): run scripts/install-deps" >&2; exit 1; }
	@for f in cflags libs cmocka; do mv $(PKGDIR)/$$f.tmp $(PKGDIR)/$$f; done

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# gcc only: tests build paths with snprintf into fixed buffers on purpose
TEST_WFLAGS := $(if $(findstring clang,$(CC)),,-Wno-format-truncation)

# Modules by layer: util, then protocol and queue, then delivery and server, then cli.
UTIL_SRC   := src/util/log.c src/util/fsutil.c src/util/errlist.c
UTIL_SRC   += src/util/workpool.c src/util/base64.c src/util/hashtab.c src/util/netmatch.c src/util/duration.c src/util/metrics.c src/util/notify.c src/util/windowcount.c src/util/endpoint.c src/sandbox/sandbox.c
SMTP_SRC   := src/smtp/parse.c src/smtp/data.c src/smtp/session.c src/smtp/session_reply.c src/smtp/session_auth.c src/smtp/reply.c src/smtp/client.c \
              src/msg/hdrscan.c src/msg/addrlist.c src/msg/dkimcanon.c src/msg/dkimsign.c src/msg/spf.c src/msg/dkimverify.c src/msg/dmarc.c src/msg/authres.c
CORE_SRC   := $(UTIL_SRC) $(SMTP_SRC) src/conf/config.c src/conf/config_params.c src/conf/config_set.c src/conf/listener.c src/conf/targetspec.c src/auth/users.c src/auth/directory.c src/queue/spool.c src/queue/spoolfs.c src/queue/queuefile.c src/queue/memtable.c src/queue/journal.c src/queue/committer.c src/queue/journal_file.c src/queue/journal_replay.c src/queue/admin.c src/queue/export.c src/queue/import.c \
              src/deliver/maildir.c src/deliver/agent.c src/deliver/runner.c src/deliver/local.c src/deliver/target.c src/deliver/lmtp.c src/deliver/remote.c src/route/tlspolicy.c src/route/mtasts.c src/route/tlsrpt.c src/deliver/bounce.c src/tls/tls.c src/tls/clientca.c src/auth/auth.c src/auth/authcache.c src/auth/pwquality.c src/auth/apppw.c src/sasl/scram.c src/auth/dovecot.c src/auth/pgdir.c \
              src/net/transport.c src/net/https.c src/deliver/remote_attempt.c src/route/mx.c src/route/plan.c src/net/dns.c src/route/dane.c src/net/dnslookup.c src/tls/inspect.c \
              src/check/verdict.c src/check/discover.c src/check/probe.c src/check/report.c src/check/mxpolicy.c src/check/records.c src/check/domain.c src/server/clientlimits.c src/server/proxyhdr.c src/publish/publish.c
SERVER_SRC := src/server/server.c src/server/loop.c src/server/privileges.c src/server/conn.c src/server/http.c src/server/smtp_envelope.c src/server/smtp_login.c src/server/smtp_data.c src/server/runningconf.c src/server/control.c src/server/sendercheck.c src/server/sharedlimits.c
MAIN_SRC   := src/cli/main.c src/cli/cmd_dkim.c src/cli/cmd_dns.c src/cli/send.c src/cli/send_account.c src/cli/send_msg.c src/cli/send_explain.c src/cli/cmd_check.c src/cli/secret.c src/cli/cmd_control.c src/cli/ctlsock.c src/cli/cmd_user.c src/cli/cmd_usercert.c src/cli/cmd_directory.c src/cli/cmd_mailbox.c src/cli/cmd_queuemove.c
ALL_SRC    := $(CORE_SRC) $(SERVER_SRC) $(MAIN_SRC)
HEADERS    := $(wildcard src/*/*.h)

# mdoc pages (man/); mailport.conf(5) is generated, see "man pages" below
MAN_PAGES := build/man/mailport.8 build/man/mailport.conf.5 build/man/mailport-send.1 \
             build/man/mailport-check.1 build/man/mailport-queue.8

UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(filter-out tests/unit/testutil.c,$(wildcard tests/unit/test_*.c)))

FUZZ_TARGETS := session path data client addrlist autoconfig config users hdrscan reply dns agent journal tlspolicy tlsrpt dkim authres autodiscover proxyhdr export spf dmarc
FUZZ_TIME    ?= 60

.PHONY: lint all deps run stop test unit integration clean fuzz fuzz-replay bench soak soak-relay man install uninstall deb deb-check

all: build/mailport

build/mailport: $(ALL_SRC) $(HEADERS) Makefile $(PKG)
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $(ALL_SRC) $(LDLIBS)

# The sanitizer build the integration suite runs against (picohttpparser's habit). Its objects
# are compiled once and linked into the server, every unit test and every corpus replay.
ASAN_CFLAGS   = $(filter-out -O2,$(CFLAGS)) $(ASAN_FLAGS)
ASAN_OBJ      := $(patsubst src/%.c,build/asan/obj/%.o,$(ALL_SRC))
CORE_ASAN_OBJ := $(patsubst src/%.c,build/asan/obj/%.o,$(CORE_SRC))

build/asan/obj/%.o: src/%.c $(HEADERS) Makefile $(PKG)
	@mkdir -p $(dir $@)
	@echo "cc (asan) $<"
	@$(CC) $(ASAN_CFLAGS) -c -o $@ $<

build/asan/mailport: $(ASAN_OBJ)
	$(CC) $(ASAN_CFLAGS) -o $@ $(ASAN_OBJ) $(LDLIBS)

build/unit/%: tests/unit/%.c $(CORE_ASAN_OBJ) $(HEADERS) Makefile $(PKG)
	@mkdir -p build/unit
	$(CC) $(ASAN_CFLAGS) $(TEST_WFLAGS) -Isrc -o $@ $< $(CORE_ASAN_OBJ) $(LDLIBS) $$(cat $(PKGDIR)/cmocka)

# Fuzzing (tests/fuzz): `make test` replays the committed corpora with gcc + ASan/UBSan;
# `make fuzz` runs libFuzzer (clang) on each target for FUZZ_TIME seconds, growing the corpus.
build/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(CORE_ASAN_OBJ) $(HEADERS) Makefile $(PKG)
	@mkdir -p build/fuzz
	$(CC) $(ASAN_CFLAGS) -Isrc -o $@ $< tests/fuzz/replay.c $(CORE_ASAN_OBJ) $(LDLIBS)

build/fuzz/libfuzzer_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(HEADERS) Makefile $(PKG)
	@mkdir -p build/fuzz
	clang $(filter-out -O2,$(CFLAGS)) -O1 -g -fsanitize=fuzzer,address,undefined -Isrc -o $@ $< $(CORE_SRC) $(LDLIBS)

fuzz-replay: $(addprefix build/fuzz/replay_,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build/fuzz/replay_$$t tests/fuzz/corpus/$$t; done

fuzz: $(addprefix build/fuzz/libfuzzer_,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/new_$$t; \
		build/fuzz/libfuzzer_$$t -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 \
			-artifact_prefix=build/fuzz/crash_$$t- build/fuzz/new_$$t tests/fuzz/corpus/$$t; \
		build/fuzz/libfuzzer_$$t -merge=1 tests/fuzz/corpus/$$t build/fuzz/new_$$t; \
	done

# Static analysis (make test runs it). cppcheck: warning, performance and portability
# checks. clang-tidy: bugprone-*, the clang static analyzer and misc-redundant-expression,
# without these, each for a reason: easily-swappable-parameters, reserved-identifier,
# narrowing-conversions, implicit-widening-of-multiplication-result (style, not bugs, in
# code that checks its sizes); assignment-in-if-condition (our idiom); not-null-terminated-
# result (flags memcpy of binary octets); branch-clone (parallel branches on purpose);
# DeprecatedOrUnsafeBufferHandling (wants Annex K); optin.performance.Padding (a config table,
# not a hot struct); cert-err34-c is not enabled either: every atoi in
# the tree reads digits validated just before. False positives are marked in place.
TIDY_CHECKS := -*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,\
-bugprone-narrowing-conversions,-bugprone-implicit-widening-of-multiplication-result,\
-bugprone-assignment-in-if-condition,-bugprone-not-null-terminated-result,-bugprone-branch-clone,\
clang-analyzer-*,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-optin.performance.Padding,\
misc-redundant-expression

lint: $(PKG) $(MAN_PAGES)
	@$(PYTHON) scripts/callgraph src && $(PYTHON) scripts/callgraph --doc docs/architecture.md
	@mandoc -Tlint -W warning $(MAN_PAGES) && echo "lint: mandoc -Tlint clean ($(words $(MAN_PAGES)) man pages)"
	@cppcheck -j $(NPROC) --quiet --std=c11 -D_GNU_SOURCE -Isrc --enable=warning,performance,portability \
		--inline-suppr --error-exitcode=1 src/ && echo "lint: cppcheck clean"
	@out=$$(printf '%s\n' $(ALL_SRC) | xargs -P $(NPROC) -I{} clang-tidy --quiet --checks='$(TIDY_CHECKS)' \
		--warnings-as-errors='*' {} -- -std=c11 -D_GNU_SOURCE -Isrc $$(cat $(PKGDIR)/cflags) 2>/dev/null); \
	if [ -n "$$out" ]; then echo "$$out"; echo "lint: clang-tidy FAILED"; exit 1; fi; \
	echo "lint: clang-tidy clean ($(words $(ALL_SRC)) files)"

deps:
	@scripts/install-deps

run: deps build/mailport
	@scripts/demo

stop:
	@scripts/demo --stop

unit: $(addprefix build/unit/,$(UNIT_TESTS))
	@set -e; fail=0; for t in $(UNIT_TESTS); do \
		echo "== $$t"; UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 CMOCKA_MESSAGE_OUTPUT=stdout \
			build/unit/$$t || fail=1; done; \
	exit $$fail

# Debian's python3 is the client under test (smtplib); fall back to whatever python3 is on PATH.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)

# The suite twice at once: with one event loop and with two ([server] workers; issue 36). The
# tests mostly wait on their peers, so the two passes share the cores well; the second pass
# speaks as it goes, the first's log follows when both are done. Each pass has ports of its
# own (harness.free_port), and the peer scripts unpack one at a time.
integration: build/mailport build/asan/mailport
	@mkdir -p build; \
	MAILPORT_WORKERS=1 MAILPORT_PORTS=20000-25999 MAILPORT_BIN=build/asan/mailport $(PYTHON) tests/integration/run.py \
		> build/integration-workers1.log 2>&1 & one=$$!; \
	echo "== integration, workers = 2"; \
	fail=0; MAILPORT_WORKERS=2 MAILPORT_PORTS=26000-31999 MAILPORT_BIN=build/asan/mailport $(PYTHON) \
		tests/integration/run.py || fail=1; \
	wait $$one || fail=1; \
	echo "== integration, workers = 1"; cat build/integration-workers1.log; \
	exit $$fail

# Every binary first, on every core; then the suites one after another.
NPROC := $(shell nproc 2>/dev/null || echo 2)
TEST_BINS = build/mailport build/asan/mailport $(addprefix build/unit/,$(UNIT_TESTS)) \
            $(addprefix build/fuzz/replay_,$(FUZZ_TARGETS))

test: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(TEST_BINS)
	@fail=0; \
	$(MAKE) --no-print-directory lint || fail=1; \
	$(MAKE) --no-print-directory unit || fail=1; \
	$(MAKE) --no-print-directory fuzz-replay || fail=1; \
	$(MAKE) --no-print-directory integration || fail=1; \
	if [ $$fail -ne 0 ]; then echo "make test: FAILED"; else echo "make test: all suites passed"; fi; \
	exit $$fail

clean:
	rm -rf build

# ---- man pages, install, Debian package ----------------------------------------------------
# mailport.conf(5) is generated: its parameter list is the config table itself (serve --mdoc),
# the same one `serve --defaults` prints, so the page cannot drift from the code.

build/man/mailport.conf.5: man/mailport.conf.5.in man/mailport.conf.5.tail build/mailport
	@mkdir -p build/man
	{ cat man/mailport.conf.5.in; build/mailport serve --mdoc; cat man/mailport.conf.5.tail; } > $@.tmp && mv $@.tmp $@

build/man/%: man/%
	@mkdir -p build/man
	cp $< $@

man: $(MAN_PAGES)
	@mandoc -Tlint -W warning $(MAN_PAGES) && echo "man: mandoc -Tlint clean ($(words $(MAN_PAGES)) pages)"

# The Debian layout with PREFIX=/usr; /usr/local by default, as a source install. The
# configuration is always under SYSCONFDIR/mailport (the binary's default is
# /etc/mailport/mailport.conf); an existing mailport.conf is never overwritten.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
LIBDIR_SD  ?= $(PREFIX)/lib
UNITDIR    ?= $(LIBDIR_SD)/systemd/system

install: build/mailport $(MAN_PAGES)
	install -D -m 0755 build/mailport $(DESTDIR)$(SBINDIR)/mailport
	ln -sf mailport $(DESTDIR)$(SBINDIR)/sendmail
	install -d $(DESTDIR)$(BINDIR)
	ln -sf $$(realpath -m --relative-to=$(BINDIR) $(SBINDIR))/mailport $(DESTDIR)$(BINDIR)/mailq
	for p in $(MAN_PAGES); do n=$${p##*/}; s=$${n##*.}; \
		install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$$s/$$n; done
	install -D -m 0644 dist/mailport.conf $(DESTDIR)$(SYSCONFDIR)/mailport/mailport.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/mailport/mailport.conf ] || \
		install -m 0644 dist/mailport.conf $(DESTDIR)$(SYSCONFDIR)/mailport/mailport.conf
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/mailport.service.in \
		> $(DESTDIR)$(UNITDIR)/mailport.service
	install -D -m 0644 dist/mailport.sysusers $(DESTDIR)$(LIBDIR_SD)/sysusers.d/mailport.conf
	install -D -m 0644 dist/mailport.tmpfiles $(DESTDIR)$(LIBDIR_SD)/tmpfiles.d/mailport.conf
	@echo "installed; then: systemd-sysusers; systemd-tmpfiles --create; edit $(SYSCONFDIR)/mailport/mailport.conf;"
	@echo "mailport serve --check-config; systemctl enable --now mailport"

# The Debian package (debian/), built from a copy of the tree in build/deb/src so that nothing
# is written outside the checkout: build/deb/mailport_VERSION_ARCH.deb. `make deb-check` installs
# it in a pristine Debian 12 root and starts it there (scripts/deb-check, through the
# ../shared/tools fresh-check when it is there).
deb:
	@scripts/install-deps --deb
	rm -rf build/deb && mkdir -p build/deb/src
	tar --exclude=./build --exclude=./run --exclude=./.git -cf - . | tar -xf - -C build/deb/src
	cd build/deb/src && dpkg-buildpackage -us -uc -b
	@ls build/deb/*.deb

FRESH_CHECK ?= ../shared/tools/fresh-check
deb-check:
	@[ -x $(FRESH_CHECK) ] || { echo "deb-check: needs $(FRESH_CHECK) (makes a pristine Debian 12 root); or run" \
		"scripts/deb-check as root in a fresh Debian 12 machine"; exit 2; }
	$(FRESH_CHECK) --timeout 1800 . -- scripts/deb-check

# Everything install put there, except a mailport.conf that may hold your settings.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mailport $(DESTDIR)$(SBINDIR)/sendmail $(DESTDIR)$(BINDIR)/mailq
	for p in $(MAN_PAGES); do n=$${p##*/}; s=$${n##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$$n; done
	rm -f $(DESTDIR)$(SYSCONFDIR)/mailport/mailport.conf.example $(DESTDIR)$(UNITDIR)/mailport.service \
		$(DESTDIR)$(LIBDIR_SD)/sysusers.d/mailport.conf $(DESTDIR)$(LIBDIR_SD)/tmpfiles.d/mailport.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/mailport/mailport.conf ]; then \
		echo "kept $(SYSCONFDIR)/mailport/mailport.conf (your settings)"; fi

# Benchmarks (bench/): the load generator, and `make bench` = bench/run.py side by side with
# a private Postfix. Never part of `make test`.
build/smtpbench: bench/smtpbench.c src/smtp/reply.c src/util/base64.c $(HEADERS) Makefile $(PKG)
	@mkdir -p build
	$(CC) $(CFLAGS) -Isrc -o $@ bench/smtpbench.c src/smtp/reply.c src/util/base64.c $(LDLIBS)

# The second generator: one blocking thread per session, as real clients are (bench/generators.py).
build/smtpthreads: bench/smtpthreads.c src/smtp/reply.c src/util/base64.c $(HEADERS) Makefile $(PKG)
	@mkdir -p build
	$(CC) $(CFLAGS) -Isrc -o $@ bench/smtpthreads.c src/smtp/reply.c src/util/base64.c $(LDLIBS)

# kill -9 at random moments under load, for SOAK_CYCLES rounds (release build); not in test.
SOAK_CYCLES ?= 100
soak: deps build/mailport
	@MAILPORT_BIN=build/mailport $(PYTHON) tests/soak/kill9.py $(SOAK_CYCLES)

# kill -9 while relaying to a smarthost slower than the clients (issue 35): lost, duplicated
# (per 10,000 copies), the clients' wait and the checkpoint histogram; not in test.
soak-relay: deps build/mailport
	@MAILPORT_BIN=build/mailport $(PYTHON) tests/soak/kill9_relay.py $(SOAK_CYCLES)

bench: build/mailport build/smtpbench build/smtpthreads
	@scripts/install-deps --bench
	$(PYTHON) bench/run.py $(BENCH_ARGS)
