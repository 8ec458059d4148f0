"""Test support only: fakes of third-party servers, HTTPS test servers, factories.

Production code never imports this package (import-linter enforces it)."""
