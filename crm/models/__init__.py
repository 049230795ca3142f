"""All ORM models; importing this package registers every table on ``Base.metadata``."""

import crm.events  # noqa: F401  (the commit hooks that announce changes to streams)
from crm.models.audit import AuditEntry
from crm.models.campaign import (
    Campaign,
    CampaignAudit,
    CampaignDelivery,
    CampaignRun,
    CampaignStatus,
    DeliveryGroup,
    OutboxStatus,
    ScheduleKind,
)
from crm.models.content import CannedResponse, ResponseBookVersion
from crm.models.conversation import (
    OPEN_STATUSES,
    WITH_A_PERSON,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Direction,
    Message,
    Sender,
)
from crm.models.customer import Channel, ChannelIdentity, ChurnRisk, Customer, CustomerEvent
from crm.models.dead_letter import TelegramDeadLetter
from crm.models.order import Order, OrderStatus, VerificationAttempt
from crm.models.service import (
    BlockReason,
    ContactBlock,
    Notification,
    SlaPolicy,
    SlaState,
    Team,
)
from crm.models.survey import SCALES, SurveyKind, SurveyResponse, SurveyStatus
from crm.models.user import ApiToken, LoginFailure, Role, User, UserSession

__all__ = [
    "OPEN_STATUSES",
    "SCALES",
    "WITH_A_PERSON",
    "ApiToken",
    "AuditEntry",
    "BlockReason",
    "Campaign",
    "CampaignAudit",
    "CampaignDelivery",
    "CampaignRun",
    "CampaignStatus",
    "CannedResponse",
    "Channel",
    "ChannelIdentity",
    "ChurnRisk",
    "ContactBlock",
    "Conversation",
    "ConversationStatus",
    "Customer",
    "CustomerEvent",
    "DeliveryGroup",
    "DeliveryStatus",
    "Direction",
    "LoginFailure",
    "Message",
    "Notification",
    "Order",
    "OrderStatus",
    "OutboxStatus",
    "ResponseBookVersion",
    "Role",
    "ScheduleKind",
    "Sender",
    "SlaPolicy",
    "SlaState",
    "SurveyKind",
    "SurveyResponse",
    "SurveyStatus",
    "Team",
    "TelegramDeadLetter",
    "User",
    "UserSession",
    "VerificationAttempt",
]
