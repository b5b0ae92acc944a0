"""Status subscribers: sign-up with double opt-in, unsubscribe links and their mails."""
