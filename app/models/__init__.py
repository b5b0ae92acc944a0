"""All ORM models, one module per aggregate; import from here."""

from app.models.attachment import Attachment
from app.models.base import Base
from app.models.chat import ChatMessage, ChatMessageAudit, ChatReadState, ChatWriteback
from app.models.connector import ConnectorInstance, ConnectorWrite
from app.models.follow import ServiceFollow, TicketFollow
from app.models.identity import (
    IdentityAudit,
    SamlAssertion,
    SsoLogin,
    TicketLinkRevocation,
    UserIdentity,
)
from app.models.lease import WorkerLease
from app.models.metrics import SlaConfig, Survey
from app.models.notification import (
    Delivery,
    DeliveryAttempt,
    InboxItem,
    NotificationDestination,
    NotificationPreference,
)
from app.models.policy import (
    ApprovalAudit,
    ApprovalRequest,
    Approver,
    PolicyDecision,
    PolicyVersion,
)
from app.models.saved_reply import SavedReply
from app.models.status import (
    FeedToken,
    Incident,
    IncidentService,
    IncidentTicket,
    Service,
    StatusAudit,
    StatusRevision,
    StatusUpdate,
    Subscriber,
    SubscriberService,
)
from app.models.ticket import Ticket, TicketEvent
from app.models.user import ApiToken, Role, User
from app.models.web import WebSession

__all__ = [
    "ApiToken",
    "ApprovalAudit",
    "ApprovalRequest",
    "Approver",
    "Attachment",
    "Base",
    "ChatMessage",
    "ChatMessageAudit",
    "ChatReadState",
    "ChatWriteback",
    "ConnectorInstance",
    "ConnectorWrite",
    "Delivery",
    "DeliveryAttempt",
    "FeedToken",
    "IdentityAudit",
    "InboxItem",
    "Incident",
    "IncidentService",
    "IncidentTicket",
    "NotificationDestination",
    "NotificationPreference",
    "PolicyDecision",
    "PolicyVersion",
    "Role",
    "SamlAssertion",
    "SavedReply",
    "Service",
    "ServiceFollow",
    "SlaConfig",
    "SsoLogin",
    "StatusAudit",
    "StatusRevision",
    "StatusUpdate",
    "Subscriber",
    "SubscriberService",
    "Survey",
    "Ticket",
    "TicketEvent",
    "TicketFollow",
    "TicketLinkRevocation",
    "User",
    "UserIdentity",
    "WebSession",
    "WorkerLease",
]
