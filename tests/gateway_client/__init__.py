"""Tests of gateway_client, one module per source module (pure: no sockets, no event loop)."""
