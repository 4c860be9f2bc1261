"""Infobip People delivery: HTTP client, shared rate limiter, dlt destination, provisioning."""
