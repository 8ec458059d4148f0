"""The public REST API (``/api/v1/``, personal API tokens) and Zapier's REST hooks."""
