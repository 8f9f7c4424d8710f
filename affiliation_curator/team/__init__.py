"""Team curation: users and sign-in roles, sharing a batch between curators, agreement and resolution.

Never imports streamlit: the Team page and the ``team`` CLI commands call these modules.
"""
