// TechGear support chat: one WebSocket per conversation (protocol: docs/websocket.md).
"use strict";

const store = window.sessionStorage;
const messages = document.getElementById("messages");
const statusBadge = document.getElementById("status");
const composer = document.getElementById("composer");
const question = document.getElementById("question");
const sendButton = document.getElementById("send");
const signin = document.getElementById("signin");

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_NOT_FOUND = 4404;
const bubbles = new Map(); // request_id -> bot message element
const MAX_FAILED_HANDSHAKES = 3;
let socket = null;
let retryDelayMs = 1000;
let failedHandshakes = 0;

function saveCredential(auth) {
  // A conversation belongs to the credential that started it: a new one starts afresh.
  store.removeItem("conversation_token");
  store.setItem("credential", JSON.stringify(auth));
}

function credentialFromFragment() {
  // make run prints http://host/#key=...; fragments never reach the server or its logs.
  const params = new URLSearchParams(window.location.hash.slice(1));
  if (params.get("key")) saveCredential({ api_key: params.get("key") });
  if (params.get("token")) saveCredential({ access_token: params.get("token") });
  if (window.location.hash) history.replaceState(null, "", window.location.pathname);
}

function credential() {
  const saved = store.getItem("credential");
  return saved ? JSON.parse(saved) : null;
}

function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function subprotocols(auth) {
  // Browsers cannot set headers on a WebSocket, and a URL ends up in logs: the credential
  // and the conversation token travel as subprotocols; the server selects only "techgear.v1".
  const secret = auth.api_key
    ? `techgear.key.${base64url(auth.api_key)}`
    : `techgear.bearer.${base64url(auth.access_token)}`;
  const conversation = store.getItem("conversation_token");
  return ["techgear.v1", secret, ...(conversation ? [`techgear.conversation.${conversation}`] : [])];
}

function setStatus(kind, text) {
  statusBadge.className = `status status--${kind}`;
  statusBadge.textContent = text;
  sendButton.disabled = kind !== "online";
}

function append(className, text) {
  const item = document.createElement("li");
  item.className = `message ${className}`;
  item.textContent = text;
  messages.appendChild(item);
  messages.scrollTop = messages.scrollHeight;
  return item;
}

function showSources(bubble, sources) {
  if (!sources || sources.length === 0) return;
  const list = document.createElement("ul");
  list.className = "sources";
  for (const source of sources) {
    const link = document.createElement("a");
    link.href = `/kb/${encodeURIComponent(source.doc_id)}`;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = source.title;
    link.title = `relevance ${source.score.toFixed(2)}`;
    const item = document.createElement("li");
    item.appendChild(link);
    list.appendChild(item);
  }
  bubble.appendChild(list);
}

function botBubble(requestId) {
  let bubble = bubbles.get(requestId);
  if (!bubble) {
    bubble = append("message--bot message--streaming", "");
    bubbles.set(requestId, bubble);
  }
  return bubble;
}

function onMessage(event) {
  const message = JSON.parse(event.data);
  switch (message.type) {
    case "ready":
      // The token, not the id, brings this visitor back into the conversation.
      store.setItem("conversation_token", message.conversation_token);
      retryDelayMs = 1000;
      failedHandshakes = 0;
      setStatus("online", "Online");
      break;
    case "accepted":
      botBubble(message.request_id);
      break;
    case "delta":
      botBubble(message.request_id).textContent += message.text;
      messages.scrollTop = messages.scrollHeight;
      break;
    case "escalation":
      append("notice", "A person from our support team will take over this conversation and follow up with you.")
        .dataset.reason = message.reason;
      break;
    case "answer": {
      const bubble = botBubble(message.request_id);
      bubble.textContent = message.answer; // the final answer is authoritative
      bubble.classList.remove("message--streaming");
      showSources(bubble, message.sources);
      bubbles.delete(message.request_id);
      break;
    }
    case "error": {
      const bubble = message.request_id && bubbles.get(message.request_id);
      if (bubble) { bubble.remove(); bubbles.delete(message.request_id); }
      append("message--error", message.message);
      break;
    }
  }
}

function connect() {
  const auth = credential();
  if (!auth) { signin.hidden = false; setStatus("offline", "Signed out"); return; }
  signin.hidden = true;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${window.location.host}/v1/ws`, subprotocols(auth));
  let opened = false;
  socket.onopen = () => { opened = true; };
  socket.onmessage = onMessage;
  socket.onclose = (event) => {
    socket = null;
    for (const bubble of bubbles.values()) bubble.classList.remove("message--streaming");
    // A refused handshake (a wrong credential) looks like a network failure to the browser.
    failedHandshakes = opened ? 0 : failedHandshakes + 1;
    if (event.code === CLOSE_NOT_FOUND) {
      // The conversation expired (or was never ours): start a new one.
      store.removeItem("conversation_token");
      setTimeout(connect, 0);
      return;
    }
    if (event.code === CLOSE_UNAUTHORIZED || event.code === CLOSE_FORBIDDEN
        || failedHandshakes >= MAX_FAILED_HANDSHAKES) {
      store.removeItem("credential");
      failedHandshakes = 0;
      signin.hidden = false;
      document.getElementById("signin-error").textContent = "Please sign in again.";
      setStatus("offline", "Signed out");
      return;
    }
    setStatus("reconnecting", "Reconnecting…");
    setTimeout(connect, retryDelayMs);
    retryDelayMs = Math.min(retryDelayMs * 2, 10000);
  };
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = question.value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  append("message--user", text);
  socket.send(JSON.stringify({ type: "ask", message: text }));
  question.value = "";
});

question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
});

signin.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(signin);
  const error = document.getElementById("signin-error");
  error.textContent = "";
  if (form.get("api_key")) {
    saveCredential({ api_key: form.get("api_key") });
    connect();
    return;
  }
  const response = await fetch("/v1/auth/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
  });
  if (!response.ok) { error.textContent = "Wrong username or password."; return; }
  const token = await response.json();
  saveCredential({ access_token: token.access_token });
  connect();
});

credentialFromFragment();
connect();
