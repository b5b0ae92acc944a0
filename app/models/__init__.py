"""All ORM models, one module per aggregate; import from here."""

from app.models.base import Base
from app.models.connector import ConnectorInstance, ConnectorWrite
from app.models.metrics import SlaConfig
from app.models.policy import (
    ApprovalAudit,
    ApprovalRequest,
    Approver,
    PolicyDecision,
    PolicyVersion,
)
from app.models.ticket import Ticket, TicketEvent
from app.models.user import ApiToken, Role, User
from app.models.web import WebSession

__all__ = [
    "ApiToken",
    "ApprovalAudit",
    "ApprovalRequest",
    "Approver",
    "Base",
    "ConnectorInstance",
    "ConnectorWrite",
    "PolicyDecision",
    "PolicyVersion",
    "Role",
    "SlaConfig",
    "Ticket",
    "TicketEvent",
    "User",
    "WebSession",
]
