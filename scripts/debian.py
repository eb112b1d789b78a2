"""Debian packages that the benchmarks and tests use (wrk, prometheus, nodejs, chromium),
installed when missing and this process may (root, apt-get), never otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def require(command: str, package: str, why: str) -> str:
    """`command`'s path, installing `package` first when the command is missing; RuntimeError
    saying what to install when it stays missing."""
    if shutil.which(command) is None and os.geteuid() == 0 and shutil.which("apt-get"):
        sys.stderr.write(f"{command} is missing: installing Debian's {package} package\n")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False, env=env)
    path = shutil.which(command)
    if path is None:
        raise RuntimeError(f"{command} is not installed: apt-get install -y {package} ({why})")
    return path
