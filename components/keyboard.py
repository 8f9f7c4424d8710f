"""Where the keyboard's focus goes on the Review page, so that every key works whatever was clicked.

Streamlit's button shortcuts (``shortcut=``) listen on the document and ignore key presses
made in text fields. Two things it leaves to the page, done here by one small script:

- A mouse click on a segmented control (Order, Show, View) or on a select box's option leaves
  the focus in that control, whose own arrow-key or type-ahead handling then swallows ``←``/``→``
  (previous/next item) or the letter keys. After such a click the focus is let go; a control
  reached with Tab keeps it (its arrow keys are how a keyboard user changes it).
- The registry search opens under the string with its field focused (``F``); ``F`` while it is
  open goes back to the field; ``Escape`` in any text field lets go of it, so the keys work again
  (in the search field the Close button's own shortcut closes the search too).

The script is a constant: no user string goes into it. It runs once per browser tab (Streamlit
renders ``st.html`` without an iframe) and does nothing outside the Review page.
"""

from __future__ import annotations

import streamlit as st

SEARCH_FIELD_KEY = "registry_search"  # the text_input key of the card's registry search

SCRIPT = """
<script>
(() => {
  if (window.__curatorKeyboard) return;
  window.__curatorKeyboard = true;
  const onReview = () => /\\/review\\/?$/.test(window.location.pathname);
  const editable = (el) => !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const searchField = () => document.querySelector(".st-key-%(search)s input");
  const letGo = (el) => { if (el && document.activeElement === el) el.blur(); };

  // 1. A mouse click on a segmented control or a select box option lets go of the focus.
  document.addEventListener("click", (event) => {
    if (!onReview() || event.detail === 0) return;  // detail 0: Enter or Space, not a mouse
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest("[data-testid=stButtonGroup] button")) {
      setTimeout(() => letGo(document.activeElement), 0);
    } else if (target.closest("[role=option]")) {  // a choice in a select box's list
      setTimeout(() => { const a = document.activeElement; if (a && a.closest("[data-testid=stSelectbox]")) a.blur(); }, 0);
    }
  }, true);

  // 2. Keys: F goes to the open search field; Escape leaves a text field.
  document.addEventListener("keydown", (event) => {
    if (!onReview() || event.ctrlKey || event.metaKey || event.altKey) return;
    const active = document.activeElement;
    if (event.key === "Escape" && editable(active)) {
      active.blur();
    } else if ((event.key === "f" || event.key === "F") && !event.shiftKey && !editable(active)) {
      const field = searchField();
      if (field) { event.preventDefault(); field.focus(); }
    }
  }, true);

  // 3. The search field takes the focus when it appears.
  let seen = null;
  new MutationObserver(() => {
    const field = onReview() ? searchField() : null;
    if (field && field !== seen) {
      field.focus();
      field.scrollIntoView({ block: "nearest" });
    }
    seen = field;
  }).observe(document.body, { childList: true, subtree: true });
})();
</script>
""" % {"search": SEARCH_FIELD_KEY}


def keyboard_focus() -> None:
    """Install the focus rules above (once per browser tab; later calls render the same element)."""
    st.html(SCRIPT, unsafe_allow_javascript=True)
