"""What arrives over HTTP: provider webhooks and custom webhooks, their handshakes and diagnostics,
and the limits every request meets before it is read."""
