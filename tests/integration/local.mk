# Integration tests: the real posthorn binary over real sockets.
TESTS += tests/integration/test_program.py
EXTRA_DIST += tests/integration/phtest.py tests/integration/test_program.py
TESTS += tests/integration/test_cli.py
EXTRA_DIST += tests/integration/test_cli.py
