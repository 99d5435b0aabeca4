// TechGear support chat: one WebSocket per conversation (protocol: docs/websocket.md).
"use strict";

const store = window.sessionStorage;
const messages = document.getElementById("messages");
const statusBadge = document.getElementById("status");
const composer = document.getElementById("composer");
const question = document.getElementById("question");
const sendButton = document.getElementById("send");
const signin = document.getElementById("signin");
const handoffStatus = document.getElementById("handoff-status");

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_NOT_FOUND = 4404;
const bubbles = new Map(); // request_id -> bot message element
const sent = new Map(); // client_message_id -> the visitor's message element, until accepted
const asked = new Map(); // request_id -> the visitor's message element
let sentCount = 0;
const MAX_FAILED_HANDSHAKES = 3;
let socket = null;
let retryDelayMs = 1000;
let failedHandshakes = 0;

// Who answers: "bot", "awaiting_agent", "agent" or "closed" (docs/websocket.md, human handoff).
const handoff = { state: "bot", agentName: null, waitNoticeShown: false };

// Conversation events carry conversation_seq 1, 2, 3… The page resumes after `shownThrough`,
// the seq up to which it has shown everything: entries of this page's own questions are
// not sent live, and the answer and the events travel apart, so seqs may arrive out of order.
// A page just loaded has shown nothing: it resumes from the start of the conversation.
let shownThrough = 0;
const shownAhead = new Set(); // seqs shown beyond shownThrough

function isShown(seq) {
  return seq <= shownThrough || shownAhead.has(seq);
}

function markShown(seq) {
  if (isShown(seq)) return;
  shownAhead.add(seq);
  while (shownAhead.delete(shownThrough + 1)) shownThrough += 1;
}

function forgetConversation() {
  store.removeItem("conversation_token");
  shownThrough = 0;
  shownAhead.clear();
}

function saveCredential(auth) {
  // A conversation belongs to the credential that started it: a new one starts afresh.
  forgetConversation();
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
  updateComposer();
}

function updateComposer() {
  const closed = handoff.state === "closed";
  question.disabled = closed;
  sendButton.disabled = closed || !statusBadge.classList.contains("status--online");
}

function append(className, text) {
  const item = document.createElement("li");
  item.className = `message ${className}`;
  item.textContent = text;
  messages.appendChild(item);
  messages.scrollTop = messages.scrollHeight;
  return item;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function decoration(className, text) {
  // Said in words beside it: screen readers skip it.
  const node = element("span", className, text);
  node.setAttribute("aria-hidden", "true");
  return node;
}

function initial(name) {
  const first = Array.from(name.trim())[0];
  return first ? first.toLocaleUpperCase() : "?";
}

function localTime(iso) {
  // The visitor's own locale and time zone; the day too unless it is today.
  const when = new Date(iso);
  const today = when.toDateString() === new Date().toDateString();
  const format = today
    ? { hour: "numeric", minute: "2-digit" }
    : { weekday: "long", day: "numeric", month: "long", hour: "numeric", minute: "2-digit" };
  const time = element("time", "expected-time", new Intl.DateTimeFormat(undefined, format).format(when));
  time.dateTime = when.toISOString();
  return time;
}

function notice(className, text, expectedBy) {
  const item = append(`notice ${className}`, text);
  if (expectedBy) {
    const line = element("span", "notice__expected", "Expected reply by ");
    line.appendChild(localTime(expectedBy));
    item.appendChild(line);
  }
  return item;
}

function showWaitNotice(text, expectedBy) {
  // The answer's escalation and the conversation's handoff event tell the same wait.
  if (handoff.waitNoticeShown) return;
  handoff.waitNoticeShown = true;
  notice("notice--handoff", text, expectedBy).dataset.state = "awaiting_agent";
}

function showHandoffStatus(expectedBy) {
  handoffStatus.dataset.state = handoff.state;
  handoffStatus.hidden = handoff.state === "bot";
  handoffStatus.replaceChildren();
  if (handoff.state === "awaiting_agent") {
    handoffStatus.append(decoration("handoff__icon", "⏳"), "Waiting for a person");
    if (expectedBy) handoffStatus.append(" · expected by ", localTime(expectedBy));
  } else if (handoff.state === "agent") {
    const name = handoff.agentName || "TechGear support";
    handoffStatus.append(decoration("avatar", initial(name)), "You are chatting with ",
      element("span", "author", name));
  } else if (handoff.state === "closed") {
    const restart = element("button", "handoff__restart", "Start a new chat");
    restart.type = "button";
    restart.addEventListener("click", startNewConversation);
    handoffStatus.append("This conversation is closed. ", restart);
  }
  updateComposer();
}

function setHandoff(state, agentName, expectedBy) {
  if (state !== "awaiting_agent") handoff.waitNoticeShown = false;
  if (state === "agent" && agentName) handoff.agentName = agentName;
  if (state === "bot" || state === "closed") handoff.agentName = null;
  handoff.state = state;
  showHandoffStatus(expectedBy);
}

function showHandoff(message) {
  setHandoff(message.state, message.author && message.author.name, message.expected_response_by);
  if (message.state === "awaiting_agent") {
    showWaitNotice(message.notice, message.expected_response_by);
  } else {
    notice("notice--handoff", message.notice).dataset.state = message.state;
  }
}

function showAgentMessage(message) {
  const item = append("message--agent", "");
  const body = element("div", "message__body");
  const byline = element("span", "byline");
  byline.append(element("span", "author", message.author.name), element("span", "role", "TechGear support"));
  body.append(byline, element("span", "message__text", message.text));
  item.append(decoration("avatar", initial(message.author.name)), body);
}

function markPassedOn(item, text) {
  item.classList.add("message--forwarded");
  const delivery = item.querySelector(".delivery") || item.appendChild(element("span", "delivery"));
  delivery.textContent = text;
}

function passedOnText() {
  return `Passed on to ${handoff.agentName || "our support team"}; they will reply here.`;
}

function showTranscriptEntry(message) {
  // Catch-up after a reconnect, and what other connections of this conversation said.
  if (message.role === "customer") {
    const typed = asked.get(message.message_id);
    if (typed) {
      // Typed on this page; its answer was lost with the connection.
      if (message.forwarded && !typed.querySelector(".delivery")) markPassedOn(typed, passedOnText());
      return;
    }
    const item = append("message--user", message.text);
    if (message.forwarded) markPassedOn(item, passedOnText());
  } else if (message.role === "assistant") {
    const requestId = message.message_id.replace(/:answer$/, "");
    const bubble = bubbles.get(requestId) || newBotBubble("message--bot");
    answerText(bubble).textContent = message.text;
    bubble.classList.remove("message--streaming");
    bubbles.delete(requestId);
    showRatingControls(bubble, requestId);
  } else {
    notice("notice--system", message.text);
  }
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

// Rating answers (docs/websocket.md, "Rating answers"): 👍/👎 under each bot answer; 👎
// offers an optional reason. What the server stored is what the buttons show.
const ratings = new Map(); // request_id -> the answer's rating controls
const REASONS = [
  ["wrong", "Wrong"],
  ["outdated", "Outdated"],
  ["didnt_answer", "Didn't answer"],
  ["other", "Other"],
];

function toggle(label, text, onPress) {
  const button = element("button", "feedback__button", text);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", onPress);
  return button;
}

function sendRating(requestId, rating, reason) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  const message = { type: "feedback", request_id: requestId, rating };
  if (reason) message.reason = reason;
  socket.send(JSON.stringify(message));
}

function showRatingControls(bubble, requestId) {
  const controls = element("div", "feedback");
  controls.setAttribute("role", "group");
  controls.setAttribute("aria-label", "Rate this answer");
  const up = toggle("Helpful", "👍", () => sendRating(requestId, "up"));
  // Pressed again, 👎 keeps the reason chosen rather than replacing it with none.
  const down = toggle("Not helpful", "👎", () => {
    if (down.getAttribute("aria-pressed") !== "true") sendRating(requestId, "down");
  });
  up.dataset.rating = "up";
  down.dataset.rating = "down";
  const reasons = element("div", "feedback__reasons");
  reasons.setAttribute("role", "group");
  reasons.setAttribute("aria-label", "What was wrong with it? (optional)");
  reasons.hidden = true;
  for (const [reason, text] of REASONS) {
    const choice = toggle(text, text, () => sendRating(requestId, "down", reason));
    choice.dataset.reason = reason;
    reasons.appendChild(choice);
  }
  const status = element("span", "feedback__status");
  status.setAttribute("role", "status");
  controls.append(up, down, reasons, status);
  bubble.appendChild(controls);
  ratings.set(requestId, controls);
}

function showRating(message) {
  const controls = ratings.get(message.request_id);
  if (!controls) return;
  for (const button of controls.querySelectorAll("[data-rating]")) {
    button.setAttribute("aria-pressed", String(button.dataset.rating === message.rating));
  }
  for (const button of controls.querySelectorAll("[data-reason]")) {
    button.setAttribute("aria-pressed", String(button.dataset.reason === message.reason));
  }
  const reasons = controls.querySelector(".feedback__reasons");
  reasons.hidden = message.rating !== "down";
  controls.querySelector(".feedback__status").textContent = "Thanks for your feedback";
}

function showRatingRefused(message) {
  const controls = ratings.get(message.request_id);
  if (!controls) return false;
  controls.querySelector(".feedback__status").textContent = message.code === "not_found"
    ? "This answer cannot be rated yet; try again in a moment."
    : message.message;
  return true;
}

function newBotBubble(className) {
  // The answer's text apart from what follows it (sources, rating).
  const bubble = append(className, "");
  bubble.appendChild(element("span", "message__text"));
  return bubble;
}

function answerText(bubble) {
  return bubble.querySelector(".message__text");
}

function botBubble(requestId) {
  let bubble = bubbles.get(requestId);
  if (!bubble) {
    bubble = newBotBubble("message--bot message--streaming");
    bubbles.set(requestId, bubble);
  }
  return bubble;
}

function showAnswer(message) {
  if (message.forwarded) {
    // A person owns the conversation: the bot did not answer, the message went to them.
    const bubble = bubbles.get(message.request_id);
    if (bubble) bubble.remove();
    bubbles.delete(message.request_id);
    const item = asked.get(message.request_id);
    if (item) markPassedOn(item, message.answer);
    if (message.conversation_seq) markShown(message.conversation_seq);
    return;
  }
  if (message.conversation_seq && isShown(message.conversation_seq)) return; // from the transcript
  const bubble = botBubble(message.request_id);
  answerText(bubble).textContent = message.answer; // the final answer is authoritative
  bubble.classList.remove("message--streaming");
  showSources(bubble, message.sources);
  showRatingControls(bubble, message.request_id);
  bubbles.delete(message.request_id);
  if (message.conversation_seq) {
    // The question's transcript entry comes just before its answer's.
    markShown(message.conversation_seq - 1);
    markShown(message.conversation_seq);
  }
}

const conversationEvents = {
  agent_message: showAgentMessage,
  handoff: showHandoff,
  transcript: showTranscriptEntry,
};

function onMessage(event) {
  const message = JSON.parse(event.data);
  if (message.type in conversationEvents) {
    if (isShown(message.conversation_seq)) return;
    conversationEvents[message.type](message);
    markShown(message.conversation_seq);
    return;
  }
  switch (message.type) {
    case "ready":
      // The token, not the id, brings this visitor back into the conversation.
      store.setItem("conversation_token", message.conversation_token);
      retryDelayMs = 1000;
      failedHandshakes = 0;
      if (message.handoff_state) {
        // Who answers now, also after a reload: the events that said so may be long past.
        setHandoff(message.handoff_state, message.agent && message.agent.name,
          message.expected_response_by);
      }
      setStatus("online", "Online");
      break;
    case "accepted": {
      const item = sent.get(message.client_message_id);
      sent.delete(message.client_message_id);
      if (item) asked.set(message.request_id, item);
      // While a person owns the conversation no bot answer is coming.
      if (handoff.state === "bot") botBubble(message.request_id);
      break;
    }
    case "delta":
      answerText(botBubble(message.request_id)).textContent += message.text;
      messages.scrollTop = messages.scrollHeight;
      break;
    case "escalation":
      showWaitNotice(message.message, message.expected_response_by);
      break;
    case "answer":
      showAnswer(message);
      break;
    case "feedback_received":
      showRating(message);
      break;
    case "error": {
      if (showRatingRefused(message)) break;
      const bubble = message.request_id && bubbles.get(message.request_id);
      if (bubble) { bubble.remove(); bubbles.delete(message.request_id); }
      append("message--error", message.message);
      if (message.code === "conversation_closed") setHandoff("closed", null, null);
      break;
    }
  }
}

function startNewConversation() {
  forgetConversation();
  messages.replaceChildren();
  bubbles.clear();
  ratings.clear();
  sent.clear();
  asked.clear();
  setHandoff("bot", null, null);
  if (socket) {
    socket.onclose = null; // no reconnecting to the old conversation
    socket.onmessage = null; // nor showing what it still sends
    socket.close(1000, "new conversation");
    socket = null;
  }
  connect();
}

function connect() {
  const auth = credential();
  if (!auth) { signin.hidden = false; setStatus("offline", "Signed out"); return; }
  signin.hidden = true;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  // Resuming, the server first sends what this page has not shown yet.
  const resume = store.getItem("conversation_token") ? `?after=${shownThrough}` : "";
  socket = new WebSocket(`${scheme}://${window.location.host}/v1/ws${resume}`, subprotocols(auth));
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
      forgetConversation();
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
  sentCount += 1;
  const clientMessageId = `m${sentCount}`;
  sent.set(clientMessageId, append("message--user", text));
  socket.send(JSON.stringify({ type: "ask", message: text, client_message_id: clientMessageId }));
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
