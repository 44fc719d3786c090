"""An ASGI middleware that refuses request bodies over a size limit while they stream in: a declared
Content-Length over the limit gets 413 at once; a body that grows past it is cut off with 413 before it is
buffered whole."""
from __future__ import annotations

import json


class BodyLimit:
    def __init__(self, app, max_bytes: int, on_reject=None):
        self.app, self.max_bytes = app, max_bytes
        self.on_reject = on_reject or (lambda: None)   # called once per refused body (the server's metrics)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            self.on_reject()
            return await _reject(send, int(declared), self.max_bytes)
        seen = 0
        started = rejected = False

        async def limited_receive():
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    rejected = True
                    self.on_reject()
                    if not started:
                        await _reject(send, seen, self.max_bytes)
                    return {"type": "http.disconnect"}   # the app sees a client that went away
            return message

        async def guarded_send(message):
            nonlocal started
            if rejected:
                return                                   # the 413 has been sent; drop the app's own answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


async def _reject(send, received: int, limit: int):
    body = json.dumps({"detail": f"request body: expected at most {limit:,} bytes, received {received:,} or more. "
                                 "Send a smaller file."}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
