#!/usr/bin/env python3
"""Differential compat tests: see `compat-tests/run.sh --help` and docs/compat.md."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nfbpf_compat.cli import main  # noqa: E402

sys.exit(main())
