# SPDX-License-Identifier: MIT
EXTRA_DIST += tests/fuzz
include tests/fuzz/cfg.mk
include tests/fuzz/normalize.mk
include tests/fuzz/message.mk
include tests/fuzz/thread.mk
include tests/fuzz/imap.mk
include tests/fuzz/session.mk
include tests/fuzz/lmtp.mk
