"""genre_core.allocator: freed blocks stay with the process, so a repeated allocation does not fault again."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from genre_core.allocator import reuse_freed_memory


def test_setting_is_applied_once_and_reports_the_same_answer():
    first = reuse_freed_memory()
    assert isinstance(first, bool)
    assert reuse_freed_memory() is first


def test_a_freed_block_is_reused_without_page_faults():
    if not reuse_freed_memory():
        pytest.skip("not glibc: the allocator is left as it is")
    n = 8 * 1024 * 1024 // 8  # 8 MB: above glibc's default mmap threshold, below ours
    block = np.ones(n)  # faults its pages in once
    del block
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    again = np.ones(n)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert float(again.sum()) == n
    assert faults < 200  # without the setting: about 500 (glibc 2.36, a fresh process)
