"""Stored history for the growth measurement: resolved cases (each with its one report) written
in bulk by Postgres itself, long before any correlation or surge window the router looks at."""

from tqdm import tqdm

from bench.system import connected

CHUNK = 100_000

# One statement per chunk: the cases, then a report for each, numbered from $1 to $2.
SEED = """
WITH seeded AS (
    INSERT INTO router.cases (
        id, escalation_id, correlation_key, status, category, product, title, created_at,
        region, severity, score, team, assignee, first_seen_at, last_seen_at, resolved_at,
        resolution_code, policy_version, explanation, updated_at)
    SELECT gen_random_uuid(), gen_random_uuid(), 'seed-' || g, 'resolved', 'crisis', 'facebook',
        'Seeded case ' || g, at, (ARRAY['DE','FR','BR','US','IN','NG','JP','GB'])[g % 8 + 1],
        'SEV3', 50, 'Global Operations', 'seeded-responder', at, at, at + interval '1 hour',
        'actioned', 'seed', '{}'::jsonb, at + interval '1 hour'
    FROM generate_series($1::bigint, $2::bigint) AS g,
        LATERAL (SELECT now() - interval '400 days' + g * interval '1 second') AS t(at)
    RETURNING id, escalation_id, correlation_key, created_at, region, category
)
INSERT INTO router.case_reports (
    escalation_id, case_id, correlation_key, received_at, category, region, score, severity,
    explanation)
SELECT escalation_id, id, correlation_key, created_at, category, region, 50, 'SEV3', '{}'::jsonb
FROM seeded
"""


async def seed_cases(dsn: str, total: int) -> int:
    """Top the seeded cases up to `total` and resolve every open case, so that only the stored
    count differs between two growth measurements; returns how many cases are stored in all."""
    async with connected(dsn) as connection:
        start = await connection.fetchval(
            "SELECT count(*) FROM router.cases WHERE policy_version = 'seed'"
        )
        with tqdm(total=total, initial=start, desc="seeding cases", unit="case") as bar:
            while start < total:
                end = min(start + CHUNK, total)
                await connection.execute(SEED, start + 1, end)
                bar.update(end - start)
                start = end
        await connection.execute(
            "UPDATE router.cases SET status = 'resolved' WHERE status <> 'resolved'"
        )
        # Vacuumed as well as analysed, as a long-lived database's history is: else autovacuum's
        # first pass over the new rows would land in the measurement, as PostgreSQL's CPU.
        for table in ("router.cases", "router.case_reports"):
            await connection.execute(f"VACUUM (ANALYZE) {table}")
        stored: int = await connection.fetchval("SELECT count(*) FROM router.cases")
    return stored
