"""Code shared by the Lambda handlers: configuration, AWS clients, the state
table, parameters, notifications and event parsing."""
