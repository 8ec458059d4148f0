"""Models of CRM Objects Creation (imported by crm/models.py so Django finds them)."""
