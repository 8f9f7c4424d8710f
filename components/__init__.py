"""Reusable Streamlit pieces for the pages (the core never imports these)."""
