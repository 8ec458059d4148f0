"""Gainsight (Enterprise): a Timeline activity in the customer's Gainsight for each
ready engagement matched to a Salesforce account that Gainsight knows."""
