"""notifier's settings (FLARE_* environment variables)."""

from pydantic import Field, SecretStr

from services.notifier.retry import RetrySchedule
from shared.settings import ResponderAuthSettings


class NotifierSettings(ResponderAuthSettings):
    port: int = 8003
    # Events a live client may fall behind by before it is dropped (so it cannot slow the rest).
    stream_queue_size: int = Field(default=1000, ge=1)
    # Recent events kept per replica so an SSE client can resume with Last-Event-ID.
    stream_replay_size: int = Field(default=1000, ge=0)
    # Seconds between SSE heartbeat comments on an idle stream (proxies cut silent connections).
    stream_heartbeat_s: float = Field(default=15.0, gt=0)
    # Links in alerts point here: `{console_url}/cases/{case_id}` (behind responder auth).
    console_url: str = "http://127.0.0.1:8003"
    # Where the console's browser code calls the router's API (cases, teams, reports). Empty
    # means the console's own origin, as behind the Kubernetes ingress (ADR 0008).
    console_router_url: str = "http://127.0.0.1:8002"
    # Outbound deliveries: per-attempt timeout (address lookup and send), how often the queue
    # is polled, how many are sent at once (each holds a database connection while it is
    # sent), the retry schedule.
    delivery_timeout_s: float = Field(default=10.0, gt=0)
    delivery_poll_interval_s: float = Field(default=1.0, gt=0)
    delivery_concurrency: int = Field(default=8, ge=1, le=16)
    retry_first_delay_s: float = Field(default=10.0, gt=0)
    retry_factor: float = Field(default=3.0, ge=1)
    retry_max_delay_s: float = Field(default=3600.0, gt=0)
    retry_max_attempts: int = Field(default=8, ge=1)
    # Events from more than this before deliveries first started raise no deliveries or pages
    # (a new consumer group starts at the beginning of the retained topic; old cases must not
    # page again). Events after that always do, however late (say, after an outage).
    delivery_max_event_age_s: float = Field(default=3600.0, gt=0)
    # Webhook and chat targets on loopback, private, link-local or metadata addresses are
    # refused unless their address falls in one of these networks (e.g. "127.0.0.1/32").
    egress_allowed_networks: list[str] = Field(default_factory=list)
    # Categories whose alerts never carry the title, only the console link and a warning.
    sensitive_categories: list[str] = Field(default_factory=lambda: ["crisis", "law_enforcement"])
    # Escalation timers: how often due timers are looked for.
    escalation_poll_interval_s: float = Field(default=1.0, gt=0)
    # Email (SMTP). STARTTLS upgrades a plain connection; use_tls connects with TLS at once.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "flare@localhost"
    # A CA bundle to verify the SMTP server's certificate with (e.g. a private CA).
    smtp_ca_file: str | None = None

    @property
    def consumer_group(self) -> str:
        # One group for every notifier replica: each delivery and page is raised once.
        return f"{self.topic_prefix}flare-notifier-deliveries"

    @property
    def delivery_lease_s(self) -> float:
        """How long a claimed delivery stays the claiming slot's: its attempt ends within two
        timeouts at worst (an SMTP exchange cut at the timeout still waits up to one more for
        its QUIT), the rest is slack for a loaded process. A replica that dies mid-send leaves
        the delivery to be sent again after this (ADR 0015)."""
        return 3 * self.delivery_timeout_s

    @property
    def retry_schedule(self) -> RetrySchedule:
        return RetrySchedule(
            first_delay_s=self.retry_first_delay_s,
            factor=self.retry_factor,
            max_delay_s=self.retry_max_delay_s,
            max_attempts=self.retry_max_attempts,
        )
