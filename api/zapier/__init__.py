"""Zapier: REST-hook triggers (New Post-Meeting Brief, New Action Items), their polling
fallbacks and the auth test, on top of the public API's authentication."""
