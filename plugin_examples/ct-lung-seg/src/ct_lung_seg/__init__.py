"""pacs-ai-hub example plugin: CT lung segmentation (right/left lung) with lung volumes."""
