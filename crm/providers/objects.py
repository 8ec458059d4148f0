"""The CRM objects Chorus reads, by their Chorus names (each provider maps them to its own)."""

# The CRM objects Chorus keeps a copy of, in the order a sync runs them (accounts
# first so opportunities and contacts find theirs).
ACCOUNT, OPPORTUNITY, CONTACT, LEAD = "Account", "Opportunity", "Contact", "Lead"
SYNC_OBJECTS = (ACCOUNT, OPPORTUNITY, CONTACT, LEAD)
# Objects whose custom fields may be imported (seed: Task, Lead, Account, Opportunity).
FIELD_OBJECTS = ("Task", "Lead", "Account", "Opportunity")
