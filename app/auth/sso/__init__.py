"""Single sign-on with OpenID Connect providers: the flow, provisioning, the audit."""
