"""ServiceNow connector: polls one table's records and journal entries over the Table API."""
