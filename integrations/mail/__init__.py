"""Emails as engagements: sent and received emails with an external participant,
imported incrementally from the mailbox a user connected for calendars."""
