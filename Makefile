# Postroom. The two commands that matter: `make run` and `make test`.
# Portable make and sh only: `make run` must work on macOS as well as Debian.

GO         ?= go
BENCHTIME  ?= 100x
BENCHCOUNT ?= 1
DEV_DATA   ?= ./dev-data
SETUP_DATA ?= ./dev-setup-data
ARM64_ENV   = CGO_ENABLED=0 GOOS=linux GOARCH=arm64
# sudo only when not root (CI runs as root and may have no sudo).
SUDO       := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all run run-setup test deps vet build build-arm64 image bench bench-imap clean

all: build

## run: build and start the appliance in development mode (data in ./dev-data)
run:
	$(GO) build -o bin/postroom ./cmd/postroom
	./bin/postroom -dev -data $(DEV_DATA)

## run-setup: a fresh development box that waits to be set up on its web page
## (data in ./dev-setup-data; the banner shows the set-up code); same ports as run
run-setup:
	$(GO) build -o bin/postroom ./cmd/postroom
	./bin/postroom -dev -setup -data $(SETUP_DATA)

## test: vet, race-enabled tests, the tests again in a far time zone (no test
## may depend on the machine's zone or today's date), the panel tests as arm64
## binaries under qemu, and the static arm64 build of every command.
## The far-zone run is -short: it leaves out the tests whose cost is another
## program (chromium, qemu boots of the image, kill -9 runs, the memory
## benchmark); the zone logic they reach is the Go code the other tests run,
## and they ran in the race run just before. That keeps make test near ten
## minutes on a 2-core machine.
test: deps
	$(GO) vet ./...
	$(GO) test -race ./...
	TZ=Pacific/Chatham $(GO) test -count=1 -short ./...
	$(ARM64_ENV) $(GO) test -exec qemu-aarch64-static ./hw/... ./appliance/status/...
	$(ARM64_ENV) $(GO) build -trimpath -o /dev/null ./cmd/...

## deps: install what the tests need, only when it is missing (idempotent)
# swaks and curl are real mail clients for the tests, and so are msmtp,
# fetchmail, isync (mbsync), s-nail, imapfilter, offlineimap3 and getmail6
# (appliance/clients*_test.go), and postfix is a real
# second MTA (appliance/postfix_test.go; installed unconfigured: the test runs its own
# instance on 127.0.0.1); gcc is needed by -race;
# qemu-user-static runs the hardware tests as arm64 binaries; swaks needs the
# perl modules for TLS and AUTH. The SD-card image (image/, make image) needs
# mke2fs (e2fsprogs); its tests check it with fsck.fat (dosfstools),
# unsquashfs (squashfs-tools) and mtools, and boot it with qemu-system-aarch64
# (qemu-system-arm). Headless chromium and zbarimg (zbar-tools) render the client
# set-up page and read its QR codes back (webui/autoconfig/browser_test.go).
# Dovecot (dovecot-imapd, dovecot-pop3d) is the IMAP peer: a private instance on
# 127.0.0.1 for the IMAP stress comparison and as the old provider in the
# transition tests. OpenSSH's sshd and sftp-server (openssh-server) are the backup
# target's SFTP server: a private sshd on 127.0.0.1 (appliance/backup/sftp_test.go).
# The USB disk tests (appliance/usbdisk) make the file systems an office's
# stick may hold with mke2fs, mkfs.vfat and mkfs.exfat (exfatprogs), check
# them with blkid and e2fsck, and read files back with debugfs and mtools.
deps:
	@missing=""; \
	command -v swaks >/dev/null 2>&1 || missing="$$missing swaks"; \
	command -v curl  >/dev/null 2>&1 || missing="$$missing curl"; \
	command -v gcc   >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v qemu-aarch64-static >/dev/null 2>&1 || missing="$$missing qemu-user-static"; \
	command -v msmtp     >/dev/null 2>&1 || missing="$$missing msmtp"; \
	command -v fetchmail >/dev/null 2>&1 || missing="$$missing fetchmail"; \
	command -v mbsync    >/dev/null 2>&1 || missing="$$missing isync"; \
	command -v s-nail    >/dev/null 2>&1 || missing="$$missing s-nail"; \
	command -v imapfilter  >/dev/null 2>&1 || missing="$$missing imapfilter"; \
	command -v offlineimap >/dev/null 2>&1 || missing="$$missing offlineimap3"; \
	command -v getmail     >/dev/null 2>&1 || missing="$$missing getmail6"; \
	command -v postfix >/dev/null 2>&1 || test -x /usr/sbin/postfix || missing="$$missing postfix"; \
	perl -MIO::Socket::SSL -e1 >/dev/null 2>&1 || missing="$$missing libio-socket-ssl-perl libnet-ssleay-perl"; \
	command -v mke2fs >/dev/null 2>&1 || test -x /sbin/mke2fs || missing="$$missing e2fsprogs"; \
	command -v fsck.fat >/dev/null 2>&1 || test -x /sbin/fsck.fat || missing="$$missing dosfstools"; \
	command -v unsquashfs >/dev/null 2>&1 || missing="$$missing squashfs-tools"; \
	command -v mcopy >/dev/null 2>&1 || missing="$$missing mtools"; \
	command -v mkfs.exfat >/dev/null 2>&1 || test -x /sbin/mkfs.exfat || missing="$$missing exfatprogs"; \
	command -v qemu-system-aarch64 >/dev/null 2>&1 || missing="$$missing qemu-system-arm"; \
	perl -MAuthen::SASL -e1 >/dev/null 2>&1 || missing="$$missing libauthen-sasl-perl"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v zbarimg  >/dev/null 2>&1 || missing="$$missing zbar-tools"; \
	command -v openssl  >/dev/null 2>&1 || missing="$$missing openssl"; \
	test -x /usr/sbin/dovecot || missing="$$missing dovecot-imapd dovecot-pop3d"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "deps: installing$$missing"; \
			echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
			$(SUDO) apt-get update && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
		else \
			echo "deps: missing$$missing and no apt-get here; install them yourself (tests that need them skip)"; \
		fi; \
	fi
	$(GO) mod download

vet:
	$(GO) vet ./...

## build: bin/postroom and bin/postroomctl for this machine
build:
	$(GO) build -o bin/ ./cmd/...

## build-arm64: static linux/arm64 binaries for the board in bin/arm64/
build-arm64:
	$(ARM64_ENV) $(GO) build -trimpath -ldflags='-s -w' -o bin/arm64/ ./cmd/...

## image: the SD-card image bin/postroom-arm64.img and bin/postroom-arm64.img.gz
## (the same bytes for the same commit; see README, "The SD-card image"), and
## the signed update file bin/postroom-arm64.update (key: $POSTROOM_UPDATE_KEY,
## else bin/update-dev.key, made on first use and never committed)
image:
	$(GO) run ./cmd/mkimage -o bin/postroom-arm64.img -update bin/postroom-arm64.update

## bench: every benchmark, bounded (override BENCHTIME=1s BENCHCOUNT=6 for benchstat),
## then bench-imap
bench:
	$(GO) test -run '^$$' -bench . -skip 'BenchmarkStress|BenchmarkIMAP20k' -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./...
	$(MAKE) bench-imap

## bench-imap: the IMAP stress mix (10 clients, one mailbox and ten, STRESS_ROUNDS turns
## of STRESS_SECONDS) and the 20,000-message figures, Postroom against a private Dovecot
STRESS_SECONDS ?= 10
STRESS_ROUNDS  ?= 3
bench-imap:
	POSTROOM_STRESS_SECONDS=$(STRESS_SECONDS) POSTROOM_STRESS_ROUNDS=$(STRESS_ROUNDS) \
		$(GO) test -run '^$$' -bench BenchmarkStress -benchtime 1x -timeout 30m ./appliance/imapd/
	$(GO) test -run '^$$' -bench BenchmarkIMAP20k -benchtime 5x -timeout 30m ./appliance/imapd/

## clean: remove built binaries and the development data folder
clean:
	rm -rf bin $(DEV_DATA) $(SETUP_DATA)
