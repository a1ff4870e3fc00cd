"""What the load posts: escalations about distinct subjects (each opens a case) spread over a few
regions, and Alertmanager alerts that each form a group of their own."""

import json

REGIONS = ("DE", "FR", "BR", "US", "IN", "NG", "JP", "GB")


def escalation(run: str, n: int) -> bytes:
    """A trusted flagger's report; `run` keeps subjects distinct across the bench's phases."""
    return json.dumps(
        {
            "category": "crisis",
            "title": f"Live-streamed violence spreading in reshares ({n})",
            "description": "A live video showing an ongoing attack is being reshared widely.",
            "product": "facebook",
            "reporter": {"type": "trusted_flagger", "name": "SafeNet Monitoring"},
            "region": REGIONS[n % len(REGIONS)],
            "subject": {"url": f"https://facebook.com/watch/{run}-{n}", "content_id": f"{run}-{n}"},
            "dedup_key": f"{run}-{n}",
        }
    ).encode()


def alert(run: str, n: int) -> bytes:
    """One firing alert for `POST /api/v2/alerts`, told apart by its `bench_id` label."""
    return json.dumps(
        [
            {
                "labels": {
                    "alertname": "ViolentVideoSurge",
                    "severity": "critical",
                    "flare_category": "crisis",
                    "bench_id": f"{run}-{n}",
                },
                "annotations": {"summary": "Reshares of a violent video surge"},
            }
        ]
    ).encode()


BODIES = {"escalation": escalation, "alert": alert}
