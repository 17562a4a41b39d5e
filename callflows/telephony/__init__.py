"""Phone calls over Twilio.

* ``media_stream``: the Media Streams wire format (typed events in, JSON messages out).
* ``twiml``: TwiML answers (``<Connect><Stream>``, ``<Dial>``, ``<Hangup>``).
* ``security``: ``X-Twilio-Signature`` checks for webhooks and the stream socket, replay guard.
* ``transfer``: ``TwilioCalls`` changes a live call through the REST API (transfer, hang-up).
* ``routes``: the Flask blueprint (``/twilio/voice``, ``/twilio/status``, ``/twilio/media``, ``/healthz``).
* ``call`` / ``services``: the per-call audio pipeline and what calls share (models, store).

The app itself is ``callflows.server.create_app``; ``callflows serve`` runs it under gunicorn.
"""
