"""T1 MR brain extraction (deepbet 1.0.2, exported to ONNX) as a pacs-ai-hub model plugin."""
