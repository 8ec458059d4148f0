"""CRM Objects Creation: pushing call activity into the connected CRM (issue 5)."""
