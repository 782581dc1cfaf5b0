"""Connections as uvicorn's h11 protocol keeps them, plus two deadlines: each request's headers must arrive within
``header_timeout`` seconds of the connection's start (or the end of its last response), and a request's body
may not stop for longer than that between two reads (nginx's ``client_body_timeout``). A client that opens a
connection and sends nothing, trickles its headers byte by byte (slowloris), or sends headers and then too
little body (a stalled or R.U.D.Y. upload) is cut off; a slow but steady body is not."""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def with_header_timeout(seconds: float) -> type[H11Protocol]:
    """The h11 protocol class for uvicorn's ``http=`` with these deadlines."""

    class HeaderDeadline(H11Protocol):
        _body_timer = None
        _last_read = 0.0

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._last_read = self.loop.time()
            super().data_received(data)
            if self._body_timer is None and self.conn.their_state is h11.SEND_BODY:
                self._body_timer = self.loop.call_later(seconds, self._body_late)

        def _arm(self) -> None:
            self.loop.call_later(seconds, self._late, self.cycle)

        def _late(self, cycle) -> None:
            """No new request's headers since the deadline was set (the cycle is the one it saw, done)."""
            idle = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if idle and not self.transport.is_closing():
                self.transport.close()

        def _body_late(self) -> None:
            """The body still comes: close if nothing was read for ``seconds``, while the client could send (not
            held back by flow control, not waiting for ``100 Continue``)."""
            self._body_timer = None
            if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
                return
            now = self.loop.time()
            if self.flow.read_paused or getattr(self.cycle, "waiting_for_100_continue", False):
                self._last_read = now  # the server is not reading: the client is not late
            elif now - self._last_read >= seconds:
                self.transport.close()
                return
            self._body_timer = self.loop.call_later(seconds - (now - self._last_read), self._body_late)
    return HeaderDeadline
