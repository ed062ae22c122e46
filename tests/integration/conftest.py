# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration tests: the albatross server fixtures."""

from __future__ import annotations

import pytest

from ansible_collections.unikernels.albatross.tests.lib.albatross_fixture import (  # noqa: F401  pylint: disable=unused-import
    albatross_server,
    albatross_server_session,
    start_server,
)
# With ALBATROSS_TEST_SERVER set, tests that only use a test server of their own skip (make test-real).
from ansible_collections.unikernels.albatross.tests.integration._real_albatross import (  # noqa: F401  pylint: disable=unused-import
    pytest_collection_modifyitems,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A test server shared by the tests of one module."""
    info = start_server(tmp_path_factory.mktemp("albatross"))
    yield info
    info.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two test servers (each with its own CA) shared by the tests of one module."""
    started = [start_server(tmp_path_factory.mktemp("albatross-%d" % n)) for n in (1, 2)]
    yield started
    for server in started:
        server.stop()
