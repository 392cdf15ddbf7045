/*
 * The chat page (templates/chat/index.html): the official phoenix client joins the page's room, shows
 * its messages and who is online (Presence), and sends with Enter (Shift+Enter: a new line).
 *
 * - The socket token comes from <meta name="socket-token"> and travels as the client's `authToken`
 *   (a Sec-WebSocket-Protocol value, so it never lands in a URL or an access log). When the server
 *   refuses the socket (the token expired while the page was open, or the server restarted with new
 *   keys), a fresh token is fetched from `data-token-url` and the client's next retry uses it; a 401
 *   there means the session is gone, and reloading the page leads to the log-in page.
 * - Every text shown comes from the data-i18n-* attributes of [data-chat] (translated by the server),
 *   and every message is written with textContent: what people type is never parsed as HTML.
 * - The vendored client is imported by its relative, undigested path: this module is served as
 *   /static/chat-<hash>.js, so "./vendor/..." resolves to /static/vendor/... (see static_files.py).
 */
import {Presence, Socket} from "./vendor/phoenix@1.8.16/phoenix.mjs";

const MAX_MESSAGES = 500; // older ones are dropped from the page: a tab left open for days stays small
const NEAR_BOTTOM_PX = 48; // closer than this to the bottom: a new message scrolls into view

const root = document.querySelector("[data-chat]");
if (root) start(root);

function start(root) {
  const text = (name) => root.dataset[name] || "";
  const status = document.querySelector("[data-chat-status]");
  const messages = root.querySelector("[data-chat-messages]");
  const empty = root.querySelector("[data-chat-empty]");
  const online = root.querySelector("[data-chat-presence]");
  const count = root.querySelector("[data-chat-count]");
  const composer = root.querySelector("[data-chat-composer]");
  const input = composer.querySelector("textarea");
  const send = composer.querySelector("button[type=submit]");
  const error = composer.querySelector("[data-chat-error]");
  const myId = root.dataset.userId;
  const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    hour: "numeric",
    minute: "2-digit",
  });

  let token = document.querySelector('meta[name="socket-token"]')?.content || "";
  let joinedOnce = false;
  let joined = false;
  let refreshing = null;

  // ---- the connection state shown in the header -------------------------------------------

  function showState(state) {
    const labels = {
      connecting: text("i18nConnecting"),
      connected: text("i18nConnected"),
      reconnecting: text("i18nReconnecting"),
      refused: text("i18nRefused"),
    };
    if (status) {
      status.dataset.state = state;
      status.textContent = labels[state];
    }
    root.dataset.state = state; // tests and CSS read it
    joined = state === "connected";
    input.disabled = state === "refused";
    send.disabled = !joined;
  }

  // ---- the socket and the room ------------------------------------------------------------

  const socket = new Socket("/socket", {authToken: () => token});
  socket.onError(() => {
    if (joinedOnce) showState("reconnecting");
    refreshToken();
  });
  socket.onClose(() => {
    if (joinedOnce && root.dataset.state !== "refused") showState("reconnecting");
  });

  // A refused socket (HTTP 403 at the handshake) is only an error to the client: ask for a fresh
  // token, which the next automatic retry sends. Only one request at a time.
  function refreshToken() {
    if (refreshing) return;
    refreshing = fetch(root.dataset.tokenUrl, {credentials: "same-origin", cache: "no-store"})
      .then((response) => {
        if (response.status === 401) {
          window.location.reload(); // logged out: the page sends us to log in
          return;
        }
        if (response.ok) return response.json().then((data) => { token = data.token || token; });
      })
      .catch(() => {}) // the server is away: the client keeps retrying, and so do we
      .finally(() => { refreshing = null; });
  }

  const channel = socket.channel(root.dataset.topic, {});
  const presence = new Presence(channel);
  presence.onSync(() => renderPresence(presence));
  channel.on("new_msg", (payload) => addMessage(payload));
  channel.onError(() => {
    if (joinedOnce) showState("reconnecting");
  });

  showState("connecting");
  channel
    .join()
    .receive("ok", () => {
      joinedOnce = true;
      showState("connected");
    })
    .receive("error", (response) => {
      if (response && response.reason === "unauthorized") {
        showState("refused");
        channel.leave(); // no rejoin: the answer would be the same
      }
    });
  socket.connect();

  // ---- messages -----------------------------------------------------------------------------

  function addMessage(payload) {
    const user = payload.user || {};
    const nearBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < NEAR_BOTTOM_PX;
    const mine = user.id === myId;

    const item = document.createElement("article");
    item.className = mine ? "chat-message is-mine" : "chat-message";
    const meta = document.createElement("div");
    meta.className = "chat-message-meta";
    const author = document.createElement("span");
    author.className = "chat-message-author";
    author.textContent = user.name || "";
    const time = document.createElement("time");
    // When the server broadcast it (`sent_at`, UTC); when it arrived here if the server sent none.
    const sent = payload.sent_at ? new Date(payload.sent_at) : new Date();
    const when = Number.isNaN(sent.getTime()) ? new Date() : sent;
    time.dateTime = when.toISOString();
    time.textContent = timeFormat.format(when);
    meta.append(author, time);
    const body = document.createElement("p");
    body.className = "chat-message-body";
    body.textContent = String(payload.body ?? "");
    item.append(meta, body);

    if (empty) empty.hidden = true;
    messages.append(item);
    while (messages.querySelectorAll(".chat-message").length > MAX_MESSAGES) {
      messages.querySelector(".chat-message").remove();
    }
    if (nearBottom || mine) messages.scrollTop = messages.scrollHeight;
  }

  // ---- who is online ------------------------------------------------------------------------

  function renderPresence(presence) {
    const people = presence
      .list((id, {metas}) => ({id, name: (metas[0] && metas[0].name) || ""}))
      .sort((a, b) => (a.id === myId ? -1 : b.id === myId ? 1 : a.name.localeCompare(b.name)));
    const items = people.map((person) => {
      const item = document.createElement("li");
      item.dataset.userId = person.id;
      // One flex item beside the dot: "(you)" wraps as a word with the name, not as a column.
      const name = document.createElement("span");
      name.textContent = person.name;
      if (person.id === myId) {
        const you = document.createElement("span");
        you.className = "chat-you";
        you.textContent = text("i18nYou");
        name.append(" ", you);
      }
      item.append(name);
      return item;
    });
    if (people.length <= 1) {
      const alone = document.createElement("li");
      alone.className = "chat-alone";
      alone.textContent = text("i18nNobody");
      items.push(alone);
    }
    online.replaceChildren(...items);
    if (count) count.textContent = people.length ? `(${people.length})` : "";
  }

  // ---- sending ------------------------------------------------------------------------------

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("input", () => { if (error) error.hidden = true; });

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value;
    if (!joined || !body.trim()) return;
    send.disabled = true;
    channel
      .push("new_msg", {body})
      .receive("ok", () => {
        if (input.value === body) input.value = "";
        if (error) error.hidden = true;
        send.disabled = !joined;
        input.focus();
      })
      .receive("error", () => failed())
      .receive("timeout", () => failed());
  });

  function failed() {
    send.disabled = !joined;
    if (error) {
      error.textContent = text("i18nSendFailed");
      error.hidden = false;
    }
  }
}
