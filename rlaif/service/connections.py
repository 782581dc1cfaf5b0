"""Connections as uvicorn's h11 protocol keeps them, plus a deadline for each request's headers: a
client that opens a connection and sends nothing, or trickles its headers byte by byte (slowloris),
is cut off ``header_timeout`` seconds after the connection opened or its last response ended."""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


def with_header_timeout(seconds: float) -> type[H11Protocol]:
    """The h11 protocol class for uvicorn's ``http=`` with this header deadline."""

    class HeaderDeadline(H11Protocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            self.loop.call_later(seconds, self._late, self.cycle)

        def _late(self, cycle) -> None:
            """No new request's headers since the deadline was set (the cycle is the one it saw, done)."""
            idle = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if idle and not self.transport.is_closing():
                self.transport.close()
    return HeaderDeadline
