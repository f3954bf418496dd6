// The page: wires the session, the composer, captions, pickers and stats together.

import { Captions } from "./captions.js";
import { ChatPanel } from "./chat.js";
import { ErrorList, EventLog, StatsView } from "./feedback.js";
import { LevelMeter } from "./level.js";
import { Picker, fetchHealth } from "./pickers.js";
import { AvatarUpload } from "./upload.js";
import { Session, sessionUrl } from "./session.js";
import { StatsMonitor } from "./stats.js";
import { DeltaStreamer } from "./streamer.js";
import { VoiceSwitch } from "./voice.js";

const $ = (id) => document.getElementById(id);
const ui = {
  video: $("video"),
  statusText: $("status-text"),
  overlayTitle: $("overlay-title"),
  overlayDetail: $("overlay-detail"),
  tokenForm: $("token-form"),
  token: $("token"),
  reconnect: $("reconnect"),
  unmute: $("unmute"),
  meterBar: $("meter-bar"),
  composer: $("composer"),
  text: $("text"),
  send: $("send"),
  interrupt: $("interrupt"),
  progressBar: $("progress-bar"),
};

const STATE_TEXT = {
  connecting: ["Connecting…", "Connecting…"],
  live: ["Live", ""],
  busy: ["Server full", "The server is full"],
  disconnected: ["Disconnected", "Disconnected"],
};

const errors = new ErrorList($("errors"));
const log = new EventLog($("log"));
const statsView = new StatsView($("stats"));
const level = new LevelMeter();
let latestStats = {};
// What the listener hears lags what the server sends by half a round trip plus the audio jitter buffer.
const playoutDelayMs = () => (latestStats.audioBufferMs ?? 0) + (latestStats.roundTripMs ?? 0) / 2;
const captions = new Captions($("captions"), playoutDelayMs);

let session = null;
let stats = null;
let nextId = 1;
const sentAt = new Map();
const speaking = new Set();

function report(code, message) {
  errors.show(code, message);
  log.add("error", `${code}: ${message}`);
}

window.addEventListener("error", (ev) => report("page_error", ev.message));
window.addEventListener("unhandledrejection", (ev) => report("page_error", String(ev.reason?.message ?? ev.reason)));

function send(message) {
  return session !== null && session.send(message);
}

const streamer = new DeltaStreamer(send, (sentChars, totalChars) => {
  ui.progressBar.style.width = `${(100 * sentChars) / totalChars}%`;
});

const chat = new ChatPanel($("chat"), send);
const avatarPicker = new Picker($("avatar"), "Avatar", (avatar) => changeSetting({ avatar }));
const voicePicker = new Picker($("voice"), "Voice", (voice) => changeSetting({ voice }));
const voiceSwitch = new VoiceSwitch($("voice-mode"), () => connect(), report);
new AvatarUpload($("avatar-upload"), pageToken(), async (avatar) => {
  const health = await fetchHealth();
  avatarPicker.fill(health.avatars, avatar); // the new avatar, selected
  changeSetting({ avatar });
});

function changeSetting(change) {
  if (session?.state !== "live") return; // the next connection carries it in its offer
  if (send({ type: "set", ...change })) log.add("set", `set ${JSON.stringify(change)}`);
}

// --- connection -----------------------------------------------------------------------------------------------

function pageToken() {
  return new URLSearchParams(location.search).get("token") ?? "";
}

function offerFields() {
  const fields = {};
  if (avatarPicker.value) fields.avatar = avatarPicker.value;
  if (voicePicker.value) fields.voice = voicePicker.value;
  if (voiceSwitch.on) fields.mode = "voice";
  return fields;
}

/** Starts a new session; events of a session that is no longer the current one are ignored. */
function connect() {
  const previous = session;
  const current = new Session(sessionUrl(location, pageToken()), offerFields(), voiceSwitch.track);
  session = current;
  previous?.close();
  stats?.stop();
  statsView.clear();
  captions.clear();
  chat.clear();
  sentAt.clear();
  speaking.clear();
  renderSpeaking();
  const on = (type, handle) => current.addEventListener(type, (ev) => current === session && handle(ev.detail));
  on("state", renderState);
  on("stream", (detail) => playStream(detail.stream));
  on("message", (detail) => onServerMessage(detail.message));
  on("failure", (detail) => report(detail.code, detail.message));
  current.start();
}

function renderState({ state, reason, neverOpened }) {
  document.body.dataset.state = state;
  const [status, title] = STATE_TEXT[state];
  ui.statusText.textContent = status;
  ui.overlayTitle.textContent = title;
  ui.overlayDetail.textContent = reason ?? "";
  ui.reconnect.textContent = state === "busy" ? "Try again" : "Reconnect";
  ui.tokenForm.hidden = !(state === "disconnected" && neverOpened);
  renderControls();
  log.add("state", reason ? `${status}: ${reason}` : status);
  if (state === "live") {
    stats = new StatsMonitor(session.peerConnection, onStats, (message) => report("stats_failed", message));
    stats.start();
  } else {
    stats?.stop();
  }
  if (state === "busy" || state === "disconnected") {
    streamer.cancel();
    speaking.clear();
    renderSpeaking();
  }
}

function renderControls() {
  const live = session?.state === "live";
  ui.send.disabled = !live || streamer.active || voiceSwitch.on; // voice mode speaks the microphone, not text
  ui.interrupt.disabled = !live;
}

function reconnectWithToken() {
  const token = ui.token.value.trim();
  if (!ui.tokenForm.hidden && token) {
    const url = new URL(location.href);
    url.searchParams.set("token", token);
    history.replaceState(null, "", url);
  }
  connect();
}

ui.reconnect.addEventListener("click", reconnectWithToken);
ui.tokenForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  reconnectWithToken();
});
window.addEventListener("pagehide", () => session?.close());

// --- media ----------------------------------------------------------------------------------------------------

async function playStream(stream) {
  ui.video.srcObject = stream;
  level.attach(stream);
  try {
    ui.video.muted = false;
    await ui.video.play();
  } catch (err) {
    if (err.name !== "NotAllowedError") {
      report("playback_failed", err.message);
      return;
    }
    // The autoplay policy wants a click before sound: play muted now, offer the click.
    log.add("state", "sound blocked by the browser's autoplay policy until a click");
    ui.video.muted = true;
    ui.unmute.hidden = false;
    await ui.video.play();
  }
}

ui.unmute.addEventListener("click", async () => {
  ui.video.muted = false;
  ui.unmute.hidden = true;
  await Promise.all([ui.video.play(), level.resume()]);
});

// Any first click or key press also lets the level meter's AudioContext run (the autoplay policy holds it).
document.addEventListener("pointerdown", () => level.resume(), { once: true });
document.addEventListener("keydown", () => level.resume(), { once: true });

function drawLevel() {
  ui.meterBar.style.transform = `scaleX(${Math.min(1, level.rms() * 6).toFixed(3)})`;
  requestAnimationFrame(drawLevel);
}

function onStats(sample) {
  latestStats = sample;
  statsView.update(sample);
}

// --- server events --------------------------------------------------------------------------------------------

function renderSpeaking() {
  document.body.dataset.speaking = String(speaking.size > 0);
}

const handlers = {
  answer: (m) => log.add("answer", `session ${m.session_id}`),
  speech_started: (m) => {
    speaking.add(m.utterance);
    renderSpeaking();
    captions.speechStarted(m.utterance);
    const sent = sentAt.get(m.id);
    sentAt.delete(m.id);
    if (sent === undefined) {
      log.add("speech", `speech_started #${m.utterance}`);
      return;
    }
    const latency = performance.now() - sent;
    statsView.update({ speechLatencyMs: latency });
    log.add("speech", `speech_started #${m.utterance}, ${Math.round(latency)} ms after send`);
  },
  word: (m) => captions.word(m),
  speech_ended: (m) => {
    speaking.delete(m.utterance);
    renderSpeaking();
    captions.speechEnded(m);
    log.add("speech", `speech_ended #${m.utterance}${m.interrupted ? ` (interrupted: "${m.spoken_text}")` : ""}`);
  },
  reply: (m) => chat.reply(m),
  reply_ended: (m) => chat.replyEnded(m),
  error: (m) => {
    if (m.code === "busy") return; // the session shows it as the busy state when the server closes the socket
    report(m.code, m.message);
  },
};

function onServerMessage(message) {
  const handle = handlers[message.type];
  if (handle) handle(message);
  else log.add("unknown", `unhandled message type "${message.type}"`);
}

// --- composer -------------------------------------------------------------------------------------------------

function sendMode() {
  return ui.composer.elements.mode.value;
}

async function submit() {
  const text = ui.text.value.trim();
  if (!text || ui.send.disabled) return;
  const id = `c${nextId++}`;
  sentAt.set(id, performance.now());
  if (sendMode() === "chat") {
    if (!chat.ask(text, id)) return;
    log.add("send", `chat ${id} (${text.length} characters)`);
    ui.text.value = "";
    return;
  }
  if (sendMode() === "say") {
    if (send({ type: "say", text, id })) log.add("send", `say ${id} (${text.length} characters)`);
    return;
  }
  ui.composer.dataset.streaming = "true";
  ui.progressBar.style.width = "0";
  log.add("send", `streaming ${id} (${text.length} characters)`);
  const streaming = streamer.stream(text, id);
  renderControls();
  const flushed = await streaming;
  ui.composer.dataset.streaming = "false";
  renderControls();
  log.add("send", flushed ? `flush ${id}` : `stream ${id} stopped`);
}

ui.composer.addEventListener("submit", (ev) => {
  ev.preventDefault();
  submit();
});
ui.text.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.composer.addEventListener("change", (ev) => {
  if (ev.target.name === "mode") ui.send.textContent = { say: "Say", stream: "Stream", chat: "Ask" }[sendMode()];
});
function interrupt() {
  streamer.cancel();
  if (send({ type: "interrupt" })) log.add("send", "interrupt");
}

ui.interrupt.addEventListener("click", interrupt);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !ui.interrupt.disabled) interrupt();
});

// --- start ----------------------------------------------------------------------------------------------------

async function start() {
  try {
    const health = await fetchHealth();
    avatarPicker.fill(health.avatars, health.default_avatar);
    voicePicker.fill(health.voices, health.default_voice);
    chat.enable(health.llm, ui.composer.querySelector(".segmented"));
  } catch (err) {
    avatarPicker.fill(null);
    voicePicker.fill(null);
    report("healthz_failed", err.message);
  }
  requestAnimationFrame(drawLevel);
  connect();
}

start();
