"""Adapters that read public benchmarks shipped in pip packages as suites."""

from agentlab.eval.adapters.bfcl import bfcl_suite
from agentlab.eval.adapters.humaneval import humaneval_suite

__all__ = ["bfcl_suite", "humaneval_suite"]
