"""One outbox sender per CRM (registered by ``crm.push.registry.register``)."""

from crm.push.senders.dynamics import DynamicsSender
from crm.push.senders.hubspot import HubSpotSender
from crm.push.senders.salesforce import SalesforceSender

SENDER_CLASSES = {"salesforce": SalesforceSender, "hubspot": HubSpotSender, "dynamics": DynamicsSender}
