// The viewer page: plays one broadcast over WHEP (viewer.html?broadcast=<id>[&token=...]).

import { WhepViewer } from "./whep.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const broadcast = params.get("broadcast") ?? "";
const token = params.get("token") ?? "";
const endpoint = new URL(`/v1/broadcasts/${encodeURIComponent(broadcast)}/whep`, location.href).toString();
const STATE_TEXT = { connecting: "Connecting…", live: "Live", ended: "Not playing" };

let viewer = null;

function render(state, reason) {
  document.body.dataset.state = state;
  $("status-text").textContent = STATE_TEXT[state];
  $("overlay-title").textContent = state === "live" ? "" : STATE_TEXT[state];
  $("overlay-detail").textContent = reason ?? "";
}

async function play(stream) {
  const video = $("video");
  video.srcObject = stream;
  try {
    video.muted = false;
    await video.play();
  } catch (err) {
    if (err.name !== "NotAllowedError") throw err;
    video.muted = true; // the autoplay policy wants a click before sound
    $("unmute").hidden = false;
    await video.play();
  }
}

function watch() {
  viewer?.close();
  if (!broadcast) {
    render("ended", "No broadcast given: open this page as viewer.html?broadcast=<id>.");
    return;
  }
  const current = new WhepViewer(endpoint, token);
  viewer = current;
  current.addEventListener("state", (ev) => current === viewer && render(ev.detail.state, ev.detail.reason));
  current.addEventListener("stream", (ev) => play(ev.detail.stream).catch((err) => render("ended", err.message)));
  render("connecting");
  current.start();
}

$("endpoint").textContent = endpoint;
$("reconnect").addEventListener("click", watch);
$("unmute").addEventListener("click", () => {
  $("video").muted = false;
  $("unmute").hidden = true;
});
window.addEventListener("pagehide", () => viewer?.close("page closed"));
watch();
