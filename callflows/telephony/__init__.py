"""Phone calls over Twilio.

* ``media_stream``: the Media Streams wire format (typed events in, JSON messages out).
* ``twiml``: TwiML answers (``<Connect><Stream>``, ``<Dial>`` with a whisper, ``<Say>``, ``<Hangup>``).
* ``security``: ``X-Twilio-Signature`` checks for webhooks and the stream socket, replay guard.
* ``stream_grant``: per-call stream grants: the single-use, expiring token in the stream URL and
  the server's signature over the stream's parameters (vertical, numbers, call SID).
* ``transfer``: ``TwilioCalls`` changes a live call through the REST API (transfer, hang-up).
* ``routes``: the Flask blueprint (``/twilio/voice``, ``/twilio/status``, ``/twilio/whisper``,
  ``/twilio/media/<token>``, ``/healthz``).
* ``call`` / ``services``: the per-call audio pipeline and what calls share (models, store).
* ``waiting`` / ``wait_fillers``: a vertical's ``phone.yaml`` ``waiting:`` settings, and the per-call
  thread that fills a wait with acknowledgements, progress lines and typing (no dead air).
* ``handoff``: the call's summary for the person a call is transferred to (the whisper, the admin).
* ``silence``: the longest dead air a caller heard, from what the simulator played.
* ``simulator``: a stand-in for Twilio that places a call and plays a scripted caller.

The app itself is ``callflows.server.create_app``; ``callflows serve`` runs it under gunicorn.
"""
