#!/usr/bin/env python3
"""Regenerates docs/compat.md from compat-tests/out/results.json (written by run.sh)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nfbpf_compat.cli import report_main  # noqa: E402

sys.exit(report_main())
