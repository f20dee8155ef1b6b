"""The tenant admin console's pages, one module per area. Every page is for admins (MANAGE_TENANT):
spend, credentials and stored prompts are not for every member's eyes."""
