"""The on-disk cache: content hashes, keys, atomic entries, corruption."""

from __future__ import annotations

import os

import numpy as np
import pytest

from genre_core import config
from genre_core.cache import FeatureCache, cache_key, clear_hash_memo, content_hash


def test_content_hash_bytes_path_and_memo(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    assert content_hash(p) == content_hash(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    with open(p, "rb") as fh:
        assert content_hash(fh) == content_hash(b"abc")
    p.write_bytes(b"abcd")  # size changes -> memo entry no longer matches
    assert content_hash(p) == content_hash(b"abcd")
    q = tmp_path / "g.bin"
    q.write_bytes(b"abcd")
    assert content_hash(q) == content_hash(p)  # content, not name


def test_content_hash_same_size_edit_detected_by_mtime(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"aaaa")
    h1 = content_hash(p)
    p.write_bytes(b"bbbb")
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert content_hash(p) != h1
    clear_hash_memo()
    assert content_hash(p) == content_hash(b"bbbb")


def test_cache_key_order_independent_and_sensitive():
    assert cache_key(a=1, b={"x": 1, "y": 2}) == cache_key(b={"y": 2, "x": 1}, a=1)
    assert cache_key(a=1, b=2) != cache_key(a=1, b=3)
    assert cache_key(a=(1, 2)) == cache_key(a=[1, 2])
    with pytest.raises(TypeError):
        cache_key(a=object())


def test_put_get_roundtrip_and_default_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE_DIR", str(tmp_path / "c"))
    cache = FeatureCache()
    assert cache.root == config.cache_dir() / "inputs"
    key = cache_key(x=1)
    assert cache.get(key) is None and key not in cache
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put(key, {"X": X, "info": np.array('{"a": 1}')})
    got = cache.get(key)
    assert np.array_equal(got["X"], X) and got["X"].dtype == np.float32
    assert str(got["info"]) == '{"a": 1}'
    assert key in cache and (cache.hits, cache.misses) == (1, 1)
    assert cache.path_for(key).parent.parent == tmp_path / "c" / "inputs"
    # no temporary files left behind
    assert [p.name for p in cache.path_for(key).parent.iterdir()] == [f"{key}.npz"]


def test_corrupt_entry_is_a_miss_and_removed(tmp_path):
    cache = FeatureCache(tmp_path)
    key = cache_key(x=2)
    cache.put(key, {"X": np.ones(3)})
    cache.path_for(key).write_bytes(b"garbage, not a zip")
    assert cache.get(key) is None
    assert not cache.path_for(key).exists()
    cache.put(key, {"X": np.ones(3)})
    data = cache.path_for(key).read_bytes()
    cache.path_for(key).write_bytes(data[: len(data) // 2])  # truncated
    assert cache.get(key) is None


def test_pickled_entries_are_refused(tmp_path):
    cache = FeatureCache(tmp_path)
    key = cache_key(x=3)
    path = cache.path_for(key)
    path.parent.mkdir(parents=True)
    np.savez(path, X=np.array([{"evil": 1}], dtype=object))
    assert cache.get(key) is None


def test_disabled_cache_never_reads_or_writes(tmp_path):
    on = FeatureCache(tmp_path)
    key = cache_key(x=4)
    on.put(key, {"X": np.ones(2)})
    off = FeatureCache(tmp_path, enabled=False)
    assert off.get(key) is None
    off.put(cache_key(x=5), {"X": np.ones(2)})
    assert not on.path_for(cache_key(x=5)).exists()
    assert on.clear() == 1 and on.get(key) is None


def test_bad_keys_refused(tmp_path):
    with pytest.raises(ValueError):
        FeatureCache(tmp_path).path_for("../../etc")
