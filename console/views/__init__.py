"""The console's views: ``recordings`` (Recordings, the engagement page, Deals,
Analytics) and ``settings`` (the settings pages)."""
