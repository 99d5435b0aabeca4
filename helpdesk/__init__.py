"""Reference helpdesk bridge: escalations in, Zendesk or Freshdesk tickets out."""
