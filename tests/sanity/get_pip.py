# Copyright (c) unikernels.albatross contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for ansible-test's pip bootstrap script.

ansible-test downloads get-pip.py from a host CI cannot reach; this installs pip from
CPython's bundled wheel, then the requested pip from the package index.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys


def main() -> None:
    ensurepip.bootstrap(upgrade=True)
    os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
