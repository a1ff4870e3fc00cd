"""The invalidated cache's own rules: it keeps only found values, only while listening, at most
its bound of them, and forgets everything on an invalidation."""

from prometheus_client import CollectorRegistry

from shared.invalidation import InvalidatedCache


class Table:
    """The database, as far as the cache can tell: values by key, and how often it was asked."""

    def __init__(self, **rows: str) -> None:
        self.rows = rows
        self.reads = 0

    async def read(self, key: str) -> str | None:
        self.reads += 1
        return self.rows.get(key)


def new_cache(max_entries: int = 4096) -> tuple[InvalidatedCache[str, str], CollectorRegistry]:
    registry = CollectorRegistry()
    return InvalidatedCache[str, str]("test", registry, max_entries), registry


async def lookup(cache: InvalidatedCache[str, str], table: Table, key: str) -> str | None:
    return await cache.get(key, lambda: table.read(key))


async def test_a_found_value_is_served_from_memory_while_listening() -> None:
    cache, registry = new_cache()
    cache.start_caching()
    table = Table(a="alpha")
    assert [await lookup(cache, table, "a") for _ in range(3)] == ["alpha"] * 3
    assert table.reads == 1
    assert registry.get_sample_value("flare_test_cache_hits_total") == 2
    assert registry.get_sample_value("flare_test_cache_misses_total") == 1


async def test_nothing_is_kept_unless_listening() -> None:
    cache, registry = new_cache()
    table = Table(a="alpha")
    assert [await lookup(cache, table, "a") for _ in range(2)] == ["alpha"] * 2
    assert table.reads == 2
    assert len(cache) == 0
    assert registry.get_sample_value("flare_test_cache_listening") == 0


async def test_stopping_to_listen_forgets_what_was_kept() -> None:
    cache, _ = new_cache()
    cache.start_caching()
    table = Table(a="alpha")
    await lookup(cache, table, "a")
    cache.stop_caching()
    table.rows["a"] = "changed meanwhile"
    assert await lookup(cache, table, "a") == "changed meanwhile"
    assert len(cache) == 0


async def test_a_key_not_found_is_never_kept() -> None:
    cache, _ = new_cache()
    cache.start_caching()
    table = Table()
    assert [await lookup(cache, table, "random") for _ in range(2)] == [None, None]
    assert table.reads == 2
    assert len(cache) == 0


async def test_the_least_recently_used_entry_goes_when_the_bound_is_reached() -> None:
    cache, _ = new_cache(max_entries=2)
    cache.start_caching()
    table = Table(a="alpha", b="beta", c="gamma")
    for key in ("a", "b", "a", "c"):  # "a" used again after "b": "b" is the one to go
        await lookup(cache, table, key)
    assert len(cache) == 2
    reads = table.reads
    await lookup(cache, table, "a")
    await lookup(cache, table, "c")
    assert table.reads == reads, "the two used last are kept"
    await lookup(cache, table, "b")
    assert table.reads == reads + 1, "the least recently used was dropped"


async def test_an_invalidation_forgets_everything() -> None:
    cache, registry = new_cache()
    cache.start_caching()
    table = Table(a="alpha")
    await lookup(cache, table, "a")
    table.rows["a"] = "rotated"
    cache.invalidate()
    assert await lookup(cache, table, "a") == "rotated"
    assert registry.get_sample_value("flare_test_cache_invalidations_total") == 1


async def test_a_load_that_overlaps_an_invalidation_is_answered_but_not_kept() -> None:
    cache, _ = new_cache()
    cache.start_caching()
    table = Table(a="alpha")

    async def read_then_change() -> str | None:
        value = await table.read("a")
        table.rows["a"] = "rotated"
        cache.invalidate()  # the change's notification arrives while this load is under way
        return value

    assert await cache.get("a", read_then_change) == "alpha"
    assert len(cache) == 0
    assert await lookup(cache, table, "a") == "rotated"
