"""notifier's app: the case stream reader and the live stream routes, in the shared frame."""

from fastapi import FastAPI

from services.notifier import api
from services.notifier.consumer import CaseStream
from services.notifier.hub import StreamHub
from services.notifier.settings import NotifierSettings
from shared.app import Plumbing


def create_app(settings: NotifierSettings) -> FastAPI:
    plumbing = Plumbing(settings)
    hub = StreamHub(settings.stream_queue_size, plumbing.registry)
    stream = CaseStream(settings, hub, plumbing.registry)
    app = plumbing.app(
        title="Flare notifier",
        description="Live streams of case events for responders.",
        jobs={"case_stream": stream.loop.run},
        required={"postgres", "kafka", "stream"},
        extra_checks={"stream": stream.ready},
    )
    app.state.hub = hub
    app.include_router(api.router)
    return app
