# SPDX-License-Identifier: MIT
include tests/unit/core.mk
include tests/unit/cfg.mk
include tests/unit/normalize.mk
include tests/unit/message.mk
include tests/unit/sort.mk
include tests/unit/tables.mk
include tests/unit/imap.mk
include tests/unit/tls.mk
include tests/unit/base64.mk
include tests/unit/pam.mk
include tests/unit/lmtp.mk
# libposthorn's layers use only the layers below them (read with nm).
TESTS += tests/unit/test_layers.py
EXTRA_DIST += tests/unit/test_layers.py
# libposthorn exports the SDK and the program's private symbols, nothing else.
TESTS += tests/unit/test_exports.py
EXTRA_DIST += tests/unit/test_exports.py
