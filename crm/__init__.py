"""The CRM: data model, customers, orders, conversations, analytics. Knows nothing of channels."""
