"""Sample feeds served from 127.0.0.1, for ``syndicate run --demo`` and the tests."""
