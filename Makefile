# SPDX-License-Identifier: GPL-2.0
#
# partmob top-level Makefile.
#
#   make                 partmob.ko (against KDIR) and user/partmobctl
#   make deps            install packages, fetch the kernel test matrix
#   make check           lint + selftests in QEMU guests (TARGET=, T=)
#   make lint            checkpatch, sparse and W=1 on every target kernel
#   make demo            boot a guest and show partmob at work
#   make bench           tracking and migration figures vs soft-dirty, iperf3, QEMU and CRIU, one guest boot
#   make fuzz            fuzz the frame parser in userspace (libFuzzer, FUZZ_SECONDS=60)
#
# KDIR defaults to the Debian kernel that `make deps` installs on the host
# (x86_64) or extracts into the cache (ARCH=powerpc).

PARTMOB_CACHE ?= $(HOME)/.cache/partmob
export PARTMOB_CACHE

ifeq ($(ARCH),powerpc)
CROSS_COMPILE ?= powerpc64le-linux-gnu-
KDIR ?= $(PARTMOB_CACHE)/targets/ppc64le-6.1/kdir
# partmobctl for ppc64le: static, against the libnl of the cache's sysroot.
PPC_SYSROOT := $(PARTMOB_CACHE)/sysroot/ppc64el
USER_ARGS := CC=$(CROSS_COMPILE)gcc STATIC=1 \
	LIBNL_CFLAGS=-I$(PPC_SYSROOT)/usr/include/libnl3 \
	LIBNL_LIBS="-L$(PPC_SYSROOT)/usr/lib/powerpc64le-linux-gnu -lnl-genl-3 -lnl-3"
else
KDIR ?= $(firstword $(wildcard /lib/modules/*-amd64/build))
endif

KBUILD_ARGS := -C $(KDIR) M=$(CURDIR) $(if $(ARCH),ARCH=$(ARCH)) \
	$(if $(CROSS_COMPILE),CROSS_COMPILE=$(CROSS_COMPILE))

QEMU_DIR := selftests/partmob/qemu

.PHONY: all module user selftests deps check lint demo bench fuzz clean

all: module user

module:
	@test -n "$(KDIR)" -a -d "$(KDIR)" || \
		{ echo "partmob: no kernel headers at KDIR='$(KDIR)'; run 'make deps' or set KDIR=" >&2; exit 1; }
	$(MAKE) $(KBUILD_ARGS) modules

user:
	$(MAKE) -C user $(USER_ARGS)

selftests:
	$(MAKE) -C selftests/partmob

deps:
	bash $(QEMU_DIR)/deps.sh

lint:
	bash $(QEMU_DIR)/lint.sh

check:
	bash $(QEMU_DIR)/check.sh

demo:
	bash $(QEMU_DIR)/demo.sh

# make bench ARCH=ppc64le: the partmob scenarios in the ppc64le guest.
bench:
	BENCH_ARCH=$(ARCH) bash $(QEMU_DIR)/bench.sh

FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C selftests/partmob/fuzz fuzz OUTPUT=$(CURDIR)/build/fuzz \
		FUZZ_SECONDS=$(FUZZ_SECONDS)

clean:
	-$(if $(wildcard $(KDIR)),$(MAKE) $(KBUILD_ARGS) clean)
	$(MAKE) -C user clean
	$(MAKE) -C selftests/partmob clean
	rm -rf build
