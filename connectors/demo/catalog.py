"""What the demo desk talks about: people, services and the lines they say."""

from __future__ import annotations

from connectors.base import Person

# The first three employees and the two agents are seeded as Socialdesk users by
# `socialdesk demo`, so their tickets show up for them.
EMPLOYEES = (
    Person("u-erin", "Erin Employee", "erin@example.com"),
    Person("u-sam", "Sam Sales", "sam@example.com"),
    Person("u-priya", "Priya Finance", "priya@example.com"),
    Person("u-lee", "Lee Warehouse", "lee@example.org"),
    Person("u-nora", "Nora Legal", "nora@example.org"),
    Person("u-omar", "Omar Design", "omar@example.org"),
)
AGENTS = (
    Person("a-alex", "Alex Agent", "alex@example.com"),
    Person("a-bo", "Bo Agent", "bo@example.com"),
)

# service slug -> ticket titles reported against it
INCIDENTS: dict[str, tuple[str, ...]] = {
    "email": (
        "Outlook keeps asking for my password",
        "Shared mailbox 'invoices' not visible",
        "Emails to customers bounce with 550",
    ),
    "vpn": (
        "VPN does not connect from home",
        "VPN drops every 10 minutes",
        "Cannot reach intranet over VPN",
    ),
    "wifi": ("Wi-Fi in meeting room 3 is down", "Guest Wi-Fi voucher not working"),
    "laptops": (
        "Laptop will not boot after update",
        "Need a replacement charger",
        "Screen flickers on docking station",
    ),
    "printing": ("Printer on floor 2 jams constantly", "Cannot add the colour printer"),
    "erp": ("ERP invoice run fails at step 3", "Cannot approve purchase orders in ERP"),
    "accounts": ("New starter needs an account", "Locked out after password change"),
}
REQUESTS = (
    "Request: access to the finance share",
    "Request: install Visio",
    "Request: second monitor",
    "Request: distribution list for the project team",
)

REQUESTER_COMMENTS = (
    "Any news on this? I am blocked.",
    "It happened again just now.",
    "Thanks, that fixed it for me.",
    "I attached a screenshot of the error.",
    "Colleagues in my team see the same problem.",
)
AGENT_PUBLIC_COMMENTS = (
    "Thanks for reporting, we are looking into it.",
    "Could you restart the device and tell us if it persists?",
    "We have identified the cause and are rolling out a fix.",
    "A fix is in place; please confirm it works for you.",
    "We ordered the part; it should arrive within two days.",
)
AGENT_INTERNAL_NOTES = (
    "Internal: looks like the cert on vpn-gw-02.corp.example.com expired.",
    "Internal: escalated to the network team, ticket NET-4411.",
    "Internal: same root cause as last week's outage, see post-mortem.",
    "Internal: user is a VIP, keep the manager informed.",
    "Internal: restarted the print spooler on 10.20.30.40.",
)
