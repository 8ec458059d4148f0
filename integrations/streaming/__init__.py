"""Zoom Streaming (Custom Live Streaming Service): Chorus sets and starts a meeting's
live stream, an nginx RTMP ingest records it, and the finished file becomes the
engagement's recording."""
