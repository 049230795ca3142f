"""careloop: a chat-based customer-service assistant with a CRM inside."""

__version__ = "0.1.0"
