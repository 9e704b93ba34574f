#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Writes the seed corpus of the frame parser's fuzz target into corpus/
# (see frame_fuzz.c for the input format). The files are committed; run
# this again only to change them.
import os
import struct
import sys

PS = 64
MIG_ID = 0x1234
(HELLO, PAGES, ZERO, ROUND, END, PREPARED, COMMIT, RESUMED, ABORT,
 ROUND_DONE, SCATTER) = range(1, 12)

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'corpus')


def frame(t, count=0, offset=0, arg=0, flags=0):
    return struct.pack('>HHIQQ', t, flags, count, offset, arg)


def pages(offset, count, fill=0x11):
    return frame(PAGES, count, offset) + bytes([fill]) * (count * PS)


def scatter(offset, dists, fill=0x44, count=None):
    n = len(dists) if count is None else count
    return (frame(SCATTER, n, offset) +
            b''.join(struct.pack('>I', d) for d in dists) +
            bytes([fill]) * (len(dists) * PS))


def head(npages, mig=True, small_why=False):
    return bytes([npages - 1, (1 if mig else 0) | (2 if small_why else 0)])


def hello(npages, mig_id=MIG_ID):
    return frame(HELLO, PS, mig_id, npages)


seeds = {}
n = 200
# Valid streams: round 1, a later round, stop-copy, commit.
seeds['valid-commit'] = (head(n) + hello(n) + pages(0, 64) + pages(64, 64) +
                         frame(ZERO, 8, 128) + frame(ROUND, arg=1) +
                         pages(3, 2, 0x22) + frame(ZERO, 1, 199) +
                         frame(ROUND, arg=2) + pages(190, 10, 0x33) +
                         frame(END, arg=140) + frame(COMMIT))
seeds['valid-verify'] = (head(n) + hello(n) + pages(10, 5) +
                         frame(ROUND, arg=1) +
                         frame(END, arg=5, flags=1) + frame(COMMIT))
seeds['valid-any-id'] = (head(16, mig=False) + hello(16, 0xdeadbeef) +
                         frame(ZERO, 16, 0) + frame(ROUND, arg=1) +
                         frame(END, arg=0) + frame(COMMIT))
seeds['valid-one-page'] = (head(1) + hello(1) + pages(0, 1) +
                           frame(ROUND, arg=1) + frame(END, arg=1) +
                           frame(COMMIT))
seeds['valid-256-pages'] = (head(256) + hello(256) + pages(192, 64) +
                            frame(ZERO, 256, 0) + frame(ROUND, arg=1) +
                            frame(END, arg=64) + frame(COMMIT))
seeds['valid-scatter'] = (head(n) + hello(n) + scatter(0, [0, 64, 128]) +
                          pages(5, 3) + frame(ROUND, arg=1) +
                          scatter(7, list(range(0, 192, 3))) +
                          frame(END, arg=70) + frame(COMMIT))
seeds['valid-scatter-last-page'] = (head(n) + hello(n) +
                                    scatter(n - 1, [0]) +
                                    scatter(1, [3, n - 2]) +
                                    frame(END, arg=3) + frame(COMMIT))
seeds['abort-in-rounds'] = (head(n) + hello(n) + pages(0, 4) +
                            frame(ABORT, arg=5))
seeds['abort-after-end'] = (head(n) + hello(n) + frame(ROUND, arg=1) +
                            frame(END) + frame(ABORT, arg=110))
seeds['trailing-after-commit'] = (head(n) + hello(n) + frame(END) +
                                  frame(COMMIT) + frame(PAGES, 1, 0))
# The hostile cases of selftests/partmob/mig_kernel.c, and more.
seeds['pages-before-hello'] = head(n) + frame(PAGES, 1, 0) + b'\0' * PS
seeds['unknown-type'] = head(n) + hello(n) + frame(77)
seeds['flags-set'] = head(n) + hello(n) + frame(ZERO, 1, 0, flags=1)
seeds['verify-flag-on-round'] = head(n) + hello(n) + frame(ROUND, 0, 0, 1, 1)
seeds['pages-past-end'] = head(n) + hello(n) + frame(PAGES, 1, n)
seeds['pages-wrapping'] = head(n) + hello(n) + frame(PAGES, 2, 2**64 - 1)
seeds['pages-too-many'] = head(n) + hello(n) + frame(PAGES, 65, 0)
seeds['pages-zero-count'] = head(n) + hello(n) + frame(PAGES, 0, 0)
seeds['zero-past-end'] = head(n) + hello(n) + frame(ZERO, n + 1, 0)
seeds['zero-wrapping'] = head(n) + hello(n) + frame(ZERO, 2**32 - 1, 2**64 - 2)
seeds['scatter-past-end'] = head(n) + hello(n) + scatter(10, [0, n - 10])
seeds['scatter-offset-past-end'] = head(n) + hello(n) + frame(SCATTER, 1, n)
seeds['scatter-not-ascending'] = head(n) + hello(n) + scatter(0, [4, 4])
seeds['scatter-descending'] = head(n) + hello(n) + scatter(0, [9, 2, 30])
seeds['scatter-huge-distance'] = (head(n) + hello(n) +
                                  scatter(2, [0, 2**32 - 1]))
seeds['scatter-too-many'] = head(n) + hello(n) + frame(SCATTER, 65, 0)
seeds['scatter-zero-count'] = head(n) + hello(n) + frame(SCATTER, 0, 0)
seeds['scatter-short-list'] = (head(n) + hello(n) + frame(SCATTER, 4, 0) +
                               struct.pack('>II', 0, 1))
seeds['scatter-before-hello'] = head(n) + scatter(0, [0, 2])
seeds['scatter-end-miscount'] = (head(n) + hello(n) + scatter(0, [0, 9]) +
                                 frame(END, arg=1))
seeds['commit-before-end'] = head(n) + hello(n) + frame(COMMIT)
seeds['round-out-of-sequence'] = head(n) + hello(n) + frame(ROUND, arg=5)
seeds['end-wrong-count'] = head(n) + hello(n) + frame(END, arg=9)
seeds['hello-wrong-size'] = head(n) + frame(HELLO, 4096, MIG_ID, n + 1)
seeds['hello-wrong-id'] = head(n) + frame(HELLO, PS, 7, n)
seeds['hello-twice'] = head(n) + hello(n) + hello(n)
seeds['truncated-frame'] = head(n) + hello(n) + b'\0\2\0'
seeds['truncated-payload'] = head(n) + hello(n) + frame(PAGES, 4, 0) + b'x' * 100
seeds['prepared-from-source'] = head(n) + hello(n) + frame(PREPARED)
seeds['resumed-at-decision'] = (head(n, small_why=True) + hello(n) +
                                frame(END) + frame(RESUMED))
seeds['end-verify-at-decision'] = (head(n) + hello(n) + frame(END) +
                                   frame(END, flags=1))

os.makedirs(out, exist_ok=True)
for name, data in sorted(seeds.items()):
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(f'{len(seeds)} seeds in {out}')
