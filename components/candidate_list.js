// The card's candidate rows (components/candidate_list.py): drawn from plain data, every string
// set as textContent (never HTML), and the keys 1-9, Shift+digit and Alt+digit.
const ACTIONS = { accept: "", also: "Alt + ", reject: "Shift + " };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function button(row, action, spec, press) {
  const node = el("button", `cand-${action} ${action === "accept" ? (spec.primary ? "primary" : "secondary") : "tertiary"}`);
  node.type = "button";
  node.dataset.action = action;
  node.dataset.rank = String(row.rank);
  node.disabled = !!spec.disabled;
  node.append(el("span", "label", spec.label));
  if (row.key) node.append(el("kbd", "", ACTIONS[action] + row.key));
  if (action === "also") node.title = "Accept this one too (a string naming several institutions); again takes it out";
  node.addEventListener("click", () => press(action, row.rank));
  return node;
}

function draw(root, data, press) {
  root.replaceChildren();
  for (const row of data.rows || []) {
    const line = el("div", "cand-row" + (row.rejected ? " rejected" : "") + (row.accepted ? " accepted" : ""));
    line.setAttribute("role", "listitem");
    line.append(button(row, "accept", row.accept, press));
    const text = el("div", "cand-text");
    const head = el("div", "cand-name");
    head.append(el("span", "rank", `${row.rank}. `), el(row.rejected ? "s" : "strong", "name", row.name),
                el("span", "score", ` — ${row.score} · `));
    if (row.link) {
      const link = el("a", "ror", "ror.org ↗");
      link.href = row.link;  // built by the app from a valid ROR id only
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      head.append(link);
    } else {
      head.append(el("span", "id", `id ${row.id}`));
    }
    text.append(head, el("div", "cand-details", row.details));
    line.append(text);
    if (row.also) line.append(button(row, "also", row.also, press));
    line.append(button(row, "reject", row.reject, press));
    root.append(line);
  }
}

const editable = (node) =>
  !!node && (node.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(node.tagName));

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".cand-rows");
  if (!root || !data) return;
  const byRank = new Map((data.rows || []).map((row) => [row.rank, row]));
  const press = (action, rank) => {
    const row = byRank.get(rank);
    const spec = row && row[action];
    if (!spec || spec.disabled) return;
    setTriggerValue("press", { item: data.item, action, rank });
  };
  draw(root, data, press);

  const onKey = (event) => {
    if (event.defaultPrevented || event.repeat || event.ctrlKey || event.metaKey) return;
    const target = event.composedPath ? event.composedPath()[0] : event.target;
    if (editable(target) || editable(document.activeElement)) return;
    const match = /^(?:Digit|Numpad)([1-9])$/.exec(event.code || "");
    if (!match) return;
    const row = byRank.get(Number(match[1]));
    if (!row || !row.key) return;
    const action = event.altKey ? "also" : event.shiftKey ? "reject" : "accept";
    event.preventDefault();
    press(action, row.rank);
  };
  document.addEventListener("keydown", onKey);
  root.dataset.ready = String(data.item);  // the keys now act on this item (tests wait for it)
  return () => {
    document.removeEventListener("keydown", onKey);
    delete root.dataset.ready;
  };
}
