// The sandbox page: reads /sandbox/state, re-reads it on every server-sent event, and asks the
// stand-in to click, submit, type and send leads as Slack would.
"use strict";

const page = {
  state: null,
  me: localStorage.getItem("sandbox.me") || "U0ANA",
  conversation: localStorage.getItem("sandbox.conversation") || "C0EMEA",
  seen: {},          // `${me}/${conversation}` -> messages seen there
  shownModal: null,  // `${view id}/${hash}/${errors}` currently drawn
};

const $ = (selector) => document.querySelector(selector);

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: page.me, ...body }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(text || `HTTP ${response.status}`);
  return text ? JSON.parse(text) : {};
}

function person(id) {
  return page.state.people.find((p) => p.id === id);
}

function dmId(userId) {
  return `D${userId}`;
}

function visible(message) {
  return !message.ephemeral_to || message.ephemeral_to === page.me;
}

function messagesIn(conversation) {
  return page.state.messages.filter((m) => m.channel === conversation && visible(m));
}

function conversationsOf() {
  const channels = page.state.channels.map((c) => ({ id: c.id, name: `# ${c.name}`, purpose: c.purpose }));
  const dms = [{ id: dmId(page.me), name: "Handoff (app)", purpose: "Your direct messages with the Handoff bot" }];
  return { channels, dms };
}

function renderSidebar() {
  const identity = $("#identity");
  if (!identity.options.length) {
    for (const p of page.state.people) {
      identity.appendChild(new Option(`${p.real_name} — ${p.role}`, p.id));
    }
  }
  identity.value = page.me;
  const { channels, dms } = conversationsOf();
  const draw = (list, items) => {
    list.replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      li.dataset.conv = item.id;
      li.classList.toggle("active", item.id === page.conversation);
      const count = messagesIn(item.id).length;
      const unread = count - (page.seen[`${page.me}/${item.id}`] || 0);
      li.innerHTML = `<span class="name">${esc(item.name)}</span>` +
        (unread > 0 && item.id !== page.conversation ? `<span class="badge">${unread}</span>` : "");
      li.addEventListener("click", () => openConversation(item.id));
      return li;
    }));
  };
  draw($("#channels"), channels);
  draw($("#dms"), dms);
  $("#home-tab").classList.toggle("active", page.conversation === "home");
  const mine = page.state.notices.filter((n) => !n.channel).slice(-4).reverse();
  $("#activity").replaceChildren(...mine.map((n) => {
    const li = document.createElement("li");
    li.textContent = n.text;
    return li;
  }));
}

function openConversation(id) {
  page.conversation = id;
  localStorage.setItem("sandbox.conversation", id);
  if (id === "home") post("/sandbox/home", {}).catch(showProblem);
  render();
}

function showProblem(error) {
  $("#composer-note").textContent = String(error.message || error);
}

function fileView(file) {
  const box = document.createElement("div");
  box.className = "file";
  const link = document.createElement("a");
  link.href = file.url;
  link.target = "_blank";
  link.textContent = `📎 ${file.title || file.name} (${file.size} bytes)`;
  box.appendChild(link);
  if (/\.(png|jpe?g|gif)$/i.test(file.name)) {
    box.appendChild(BlockKit.image(file.url, file.title || file.name, "file-image"));
  } else if (/\.csv$/i.test(file.name)) {
    const table = document.createElement("table");
    table.className = "csv-preview";
    fetch(file.url).then((r) => r.text()).then((text) => {
      const rows = text.trim().split(/\r?\n/).slice(0, 12).map(parseCsvLine);
      table.innerHTML = rows.map((cells, i) => `<tr>${cells.map((c) => i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`).join("")}</tr>`).join("");
    });
    box.appendChild(table);
  }
  return box;
}

function parseCsvLine(line) {
  const cells = [];
  let cell = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { cells.push(cell); cell = ""; }
    else cell += ch;
  }
  cells.push(cell);
  return cells;
}

function messageView(message, replies) {
  const el = document.createElement("div");
  el.className = "message";
  el.dataset.ts = message.ts;
  el.dataset.channel = message.channel;
  if (message.ephemeral_to) el.classList.add("ephemeral");
  const meta = document.createElement("div");
  meta.className = "meta";
  const when = new Date(message.at * 1000).toLocaleTimeString();
  meta.innerHTML = `<span class="avatar">H</span><b>Handoff</b> <span class="app-tag">APP</span> <time>${esc(when)}</time>` +
    (message.versions.length ? ` <span class="edited">(edited)</span>` : "") +
    (message.ephemeral_to ? ` <span class="only-you">Only visible to you</span>` : "");
  el.appendChild(meta);
  const ctx = {
    onAction: (action, control) => {
      control.disabled = true;
      post("/sandbox/click", { channel: message.channel, ts: message.ts, action })
        .then(botAnswered).catch(showProblem).finally(() => { control.disabled = false; });
    },
  };
  if (message.blocks.length) el.appendChild(BlockKit.blocks(message.blocks, ctx));
  else if (message.text) {
    const text = document.createElement("div");
    text.className = "plain-message";
    text.innerHTML = BlockKit.mrkdwn(message.text);
    el.appendChild(text);
  }
  if (message.file) el.appendChild(fileView(message.file));
  if (message.versions.length) {
    const details = document.createElement("details");
    details.className = "versions";
    const summary = document.createElement("summary");
    summary.textContent = `${message.versions.length} earlier version(s)`;
    details.appendChild(summary);
    message.versions.slice().reverse().forEach((version) => {
      const old = BlockKit.blocks(version.blocks, { onAction: () => {} });
      old.classList.add("old-version");
      old.querySelectorAll("button, select, input").forEach((c) => { c.disabled = true; });
      details.appendChild(old);
    });
    el.appendChild(details);
  }
  if (replies.length) {
    const thread = document.createElement("div");
    thread.className = "thread";
    thread.innerHTML = `<div class="thread-title">${replies.length} repl${replies.length === 1 ? "y" : "ies"} in thread</div>`;
    for (const reply of replies) thread.appendChild(messageView(reply, []));
    el.appendChild(thread);
  }
  return el;
}

function botAnswered(answer) {
  if (answer.status && answer.status !== 200) showProblem(`the bot answered HTTP ${answer.status}: ${answer.body}`);
  else $("#composer-note").textContent = "";
}

function renderConversation() {
  const { channels, dms } = conversationsOf();
  const area = $("#messages");
  const stick = area.scrollTop + area.clientHeight >= area.scrollHeight - 40;
  if (page.conversation === "home") {
    $("#conversation-title").textContent = "Handoff · Home";
    $("#conversation-purpose").textContent = "The app's Home tab, as published for you";
    const view = page.state.homes[page.me];
    const home = document.createElement("div");
    home.className = "home";
    home.dataset.viewId = view ? view.id : "";
    if (view) {
      home.appendChild(BlockKit.blocks(view.blocks, {
        onAction: (action) => post("/sandbox/click", { view_id: view.id, action }).then(botAnswered).catch(showProblem),
      }));
    } else home.textContent = "Opening the Home tab…";
    area.replaceChildren(home);
    return;
  }
  const conversation = [...channels, ...dms].find((c) => c.id === page.conversation) || channels[0];
  page.conversation = conversation.id;
  $("#conversation-title").textContent = conversation.name;
  $("#conversation-purpose").textContent = conversation.purpose;
  const messages = messagesIn(conversation.id);
  page.seen[`${page.me}/${conversation.id}`] = messages.length;
  const roots = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const known = new Set(roots.map((m) => m.ts));
  const orphans = messages.filter((m) => m.thread_ts && m.thread_ts !== m.ts && !known.has(m.thread_ts));
  const items = [...roots, ...orphans].map((m) => ({ at: m.at, el: messageView(m, messages.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts)) }));
  for (const notice of page.state.notices.filter((n) => n.channel === conversation.id && n.user === page.me)) {
    const el = document.createElement("div");
    el.className = "notice";
    el.textContent = notice.text;
    items.push({ at: notice.at, el });
  }
  items.sort((a, b) => a.at - b.at);
  if (!items.length) {
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.textContent = "Nothing here yet. Send a hot lead from the sidebar.";
    items.push({ el: empty });
  }
  area.replaceChildren(...items.map((i) => i.el));
  if (stick) area.scrollTop = area.scrollHeight;
}

function renderModal() {
  const modal = page.state.modals.filter((m) => m.user === page.me).slice(-1)[0];
  const root = $("#modal-root");
  if (!modal) {
    root.replaceChildren();
    page.shownModal = null;
    return;
  }
  const key = `${modal.id}/${modal.view.hash}/${JSON.stringify(modal.errors)}`;
  if (page.shownModal === key) return;  // keep what is being typed
  const previous = root.querySelector("form.modal");
  const typed = previous && previous.dataset.viewId === modal.id ? BlockKit.values(previous) : null;
  page.shownModal = key;
  const view = modal.view;
  const form = document.createElement("form");
  form.className = "modal";
  form.dataset.viewId = modal.id;
  form.innerHTML = `<header>${BlockKit.text(view.title)}</header>`;
  const body = BlockKit.blocks(view.blocks, {
    errors: modal.errors,
    onAction: (action) => post("/sandbox/click", { view_id: modal.id, action }).then(botAnswered).catch(showProblem),
  });
  body.classList.add("modal-body");
  form.appendChild(body);
  if (modal.errors[""]) {
    const general = document.createElement("div");
    general.className = "input-error";
    general.textContent = modal.errors[""];
    form.appendChild(general);
  }
  const footer = document.createElement("footer");
  const close = document.createElement("button");
  close.type = "button";
  close.className = "bk-button";
  close.textContent = view.close ? view.close.text : "Cancel";
  close.addEventListener("click", () => post("/sandbox/close", { view_id: modal.id }).catch(showProblem));
  footer.appendChild(close);
  if (view.submit) {
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.className = "bk-button primary";
    submit.id = "modal-submit";
    submit.textContent = view.submit.text;
    footer.appendChild(submit);
  }
  form.appendChild(footer);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    post("/sandbox/submit", { view_id: modal.id, values: BlockKit.values(form) }).then(botAnswered).catch(showProblem);
  });
  const backdrop = document.createElement("div");
  backdrop.className = "backdrop";
  backdrop.appendChild(form);
  root.replaceChildren(backdrop);
  if (typed) restoreTyped(form, typed);
}

function restoreTyped(form, values) {
  for (const wrap of form.querySelectorAll(".input-element")) {
    const state = (values[wrap.dataset.blockId] || {})[wrap.dataset.actionId];
    if (!state) continue;
    if ("value" in state && state.value !== null) wrap.querySelector("input, textarea").value = state.value;
    if (state.selected_date) wrap.querySelector("input").value = state.selected_date;
    if (state.selected_option) {
      const input = wrap.querySelector(`[value="${CSS.escape(state.selected_option.value)}"]`);
      if (input && input.tagName === "INPUT") input.checked = true;
      const select = wrap.querySelector("select");
      if (select) select.value = state.selected_option.value;
    }
  }
}

function render() {
  if (!page.state) return;
  BlockKit.people = Object.fromEntries(page.state.people.map((p) => [p.id, p.real_name]));
  BlockKit.channels = Object.fromEntries(page.state.channels.map((c) => [c.id, c.name]));
  renderConversation();
  renderSidebar();
  renderModal();
  document.body.dataset.revision = page.state.revision;
}

async function refresh() {
  const response = await fetch("/sandbox/state");
  page.state = await response.json();
  render();
}

function connect() {
  const events = new EventSource("/sandbox/events");
  events.addEventListener("revision", () => refresh().catch(showProblem));
  events.addEventListener("open", () => { $("#live").textContent = "● live"; $("#live").className = "live on"; });
  events.addEventListener("error", () => { $("#live").textContent = "reconnecting…"; $("#live").className = "live"; });
}

$("#identity").addEventListener("change", (event) => {
  page.me = event.target.value;
  localStorage.setItem("sandbox.me", page.me);
  page.shownModal = null;
  if (page.conversation.startsWith("DU")) page.conversation = dmId(page.me);
  if (page.conversation === "home") post("/sandbox/home", {}).catch(showProblem);
  render();
});

$("#home-tab").addEventListener("click", () => openConversation("home"));

$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#command");
  const text = input.value.trim();
  if (!text) return;
  const channel = page.conversation === "home" ? dmId(page.me) : page.conversation;
  post("/sandbox/command", { channel, text })
    .then((answer) => { input.value = ""; botAnswered(answer); })
    .catch(showProblem);
});

for (const temperature of ["hot", "cold"]) {
  $(`#send-${temperature}`).addEventListener("click", () => {
    post("/sandbox/sample-lead", { temperature }).catch(showProblem);
  });
}

connect();
refresh().catch(showProblem);
