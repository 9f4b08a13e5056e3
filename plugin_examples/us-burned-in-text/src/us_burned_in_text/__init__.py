"""Burned-in text detector for US/CR/DX/OT images as a pacs-ai-hub model plugin (SR only)."""
