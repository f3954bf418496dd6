"""Every setting of the server in one object, with defaults that work offline on a CPU-only machine.

The command line is generated from these dataclasses (server/cli.py): each field is one option named after it
(`max_sessions` -> `--max-sessions`), its help text is the field's `help` metadata. Nothing tunable lives
anywhere else; modules receive the part of the configuration they use.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assets import WEB_DIR
from engines.avatar.base import RendererOptions
from engines.avatar.registry import RENDERERS
from engines.face.backends.base import BACKENDS
from engines.tts.registry import ENGINES
from engines.vad.registry import CHOICES as VAD_CHOICES


def setting(default: Any, help: str, **cli: Any) -> Any:
    """A configuration field: its default, the help line of its command-line option, and how the option is
    built (`choices`, `repeat` for a repeatable option, `env` for an environment variable that sets the default,
    `flag` for an option name other than the field's, `metavar` for the value's name in the help)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults: use a tuple")
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client may ask of the server (docs/protocol.md, "Limits and bad input")."""

    max_message_bytes: int = setting(64 * 1024, "largest websocket message accepted (bytes); larger: too_large")
    max_pending_chars: int = setting(20_000, "characters of text a session may have waiting to be spoken")
    ice_timeout_s: float = setting(30.0, "a session whose ICE has not connected by then is torn down (s)")
    max_buffered_audio_s: float = setting(
        8.0, "synthesis stops running ahead of playback once this much audio is buffered (s)")
    tts_timeout_s: float = setting(10.0, "a phrase whose synthesis takes longer is skipped with tts_failed (s)")
    outbox_limit: int = setting(1000, "events a client may leave unread before its session is closed")
    ws_max_frame_bytes: int = setting(
        16 * 1024 * 1024,
        "websocket frames up to this size are read and refused with too_large; beyond it the connection closes")
    ws_heartbeat_s: float = setting(20.0, "websocket ping interval; a client that does not answer is dropped (s)")


@dataclass(frozen=True)
class MediaSettings:
    """The session clock, pacing and timing of speech on it."""

    speech_lead_s: float = setting(
        0.06, "new speech starts this far after the playback position: time to compute its first video frame (s)")
    render_ahead_s: float = setting(0.04, "a video frame is rendered this long before it is due (s)")
    encode_lead_s: float = setting(
        0.015, "a rendered frame goes to its outputs this long before it is due, so they can encode it in time (s)")
    max_behind_s: float = setting(0.1, "a pacer this far behind its slot skips to the present instead of drifting (s)")
    interrupt_fade_s: float = setting(0.005, "an interrupt fades the audio out over this long: no click (s)")
    release_frames: int = setting(
        2, "video frames over which the mouth eases to rest after speech stops (ease-out: a quarter left after one)")
    idle_motion_every: int = setting(
        3, "a face at rest moves its head every this many frames; the frames between repeat the picture (1: all)")
    speech_gestures: bool = setting(
        True, "nod, tilt and raise the brows with the speech (from its audio, in text and voice mode)")
    gesture_release_frames: int = setting(
        8, "video frames over which an interrupted head and brows ease back to rest")
    max_face_gap_s: float = setting(
        0.5, "silence up to this long between two pieces of speech is fed to the face network as context (s)")
    audio_queue_frames: int = setting(5, "20 ms audio frames an output may fall behind before the oldest is dropped")
    video_queue_frames: int = setting(3, "video frames an output may fall behind before the oldest is dropped")


@dataclass(frozen=True)
class TextSettings:
    """How streamed text becomes phrases (server/pipeline/chunker.py)."""

    phrase_max_chars: tuple[int, ...] = setting(
        (60, 100, 180), "longest first, second, later phrase before a cut at a word boundary (comma-separated)")
    clause_min_words: tuple[int, ...] = setting(
        (2, 3), "words a first, later phrase needs before clause punctuation may end it (comma-separated)")
    first_words: int = setting(
        3, "a first phrase with no punctuation yet is cut after this many words, not on a function word (0: never)")
    first_clause_words: int = setting(
        7, "...unless the text at hand already ends a clause within this many words (a sentence said at once)")


@dataclass(frozen=True)
class VoiceSettings:
    """Voice mode: the client's own voice in, the avatar speaking it back."""

    vad: str = setting(
        "auto", "voice-activity detector of the incoming voice (auto: silero where installed, else energy)",
        choices=VAD_CHOICES)
    processing_margin_s: float = setting(
        0.025, "slack for inference time and arrival jitter in the voice's fixed delay (s)")
    max_backlog_s: float = setting(0.3, "extra delay beyond which even speech of a late voice is skipped (s)")
    shed_above_s: float = setting(0.01, "extra delay above which quiet packets are skipped to catch up (s)")
    poll_s: float = setting(0.02, "how often voice mode looks for audio that never came (s)")
    mouth_lead_s: float = setting(0.06, "the mouth follows the voice from this long before speech starts (s)")
    mouth_tail_s: float = setting(0.1, "...until this long after the last voiced sound (s)")
    voice_face_model: Path | None = setting(
        None, "face network of voice mode, an ONNX file (default: the shipped a2f-voice.onnx, trained on human "
        "speech, 23.5 ms of look-ahead; text mode's a2f.onnx looks 113.5 ms ahead, and all of it holds the voice)")
    gesture_lookahead_frames: int = setting(
        0, "frames the head and brow gestures of voice mode look ahead (0-2): each holds the voice 40 ms longer "
        "and starts a nod one frame sooner", choices=(0, 1, 2))


@dataclass(frozen=True)
class AudioInputSettings:
    """Audio mode: speech synthesized elsewhere (an agent framework's TTS) spoken by the avatar."""

    audio_margin_s: float = setting(
        0.1, "speech that starts with little queued waits this long beyond the face network's look-ahead: "
        "slack for the size and arrival jitter of audio that trickles in (s)")
    face_deadline_s: float = setting(
        0.01, "when no more audio came, the face is given silence this long before a frame lacking its "
        "look-ahead is drawn (s)")


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


@dataclass(frozen=True)
class Workers:
    """Threads of the process and their priorities."""

    tts_threads: int = setting(2, "speech-synthesis worker threads shared by all sessions")
    tts_nice: int = setting(10, "scheduling priority of synthesis threads relative to rendering (0-19)")
    render_threads: int = setting(0, "render worker threads (0: one per core)")
    gil_switch_interval_s: float = setting(
        0.001, "how soon a thread hands the GIL over; shorter than Python's 5 ms keeps frames on time (s)")
    vp8_speed: int = setting(-10, "libvpx real-time speed step, -16 (fastest) .. -1 (best quality)")
    vp8_static_threshold: int = setting(
        400, "libvpx skips macroblocks that changed less than this since the last frame (0: encode all)")
    webrtc_h264_preset: str = setting(
        "ultrafast", "x264 speed preset of WebRTC viewers' H.264 video (offers that prefer H.264)",
        choices=X264_PRESETS)
    opus_bitrate: int = setting(32_000, "Opus bitrate of the (mono) voice, bit/s")
    encode_threads: int = setting(0, "video encoder threads shared by all viewers (0: one per core)")

    def render_pool_size(self) -> int:
        return self.render_threads or os.cpu_count() or 2

    def encode_pool_size(self) -> int:
        return self.encode_threads or os.cpu_count() or 2


@dataclass(frozen=True)
class ScaleSettings:
    """Worker processes behind the one port, and how the node tells a load balancer (HAProxy) its headroom."""

    workers: int = setting(
        0, "worker processes behind the one port, each with its own event loop and engines (0: one per core)")
    agent_port: int | None = setting(
        None, "TCP port of an HAProxy agent-check answering this node's weight, or drain when full (none: off)")
    agent_host: str = setting("0.0.0.0", "address the agent-check port listens on")
    drain_timeout_s: float = setting(
        3600.0, "after SIGTERM the node takes no new session and waits this long for open ones to end (s)")
    report_interval_s: float = setting(0.25, "how often each worker reports its sessions and load (s)")
    restart_delay_s: float = setting(1.0, "a worker that died is restarted after this long, doubling while it keeps dying (s)")

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError("--workers must be 0 (one per core) or more")


@dataclass(frozen=True)
class BroadcastSettings:
    """Broadcasts (docs/protocol.md, "Broadcasts"): the shared H.264 + AAC encoder, pushed outputs, recordings."""

    recordings: Path | None = setting(
        None, "folder of the file outputs' MP4 recordings, served at /v1/recordings/<name> (none: file outputs refused)")
    max_outputs: int = setting(4, "outputs one broadcast may have")
    max_whep_viewers: int = setting(4, "WHEP viewers one broadcast may have at once (many viewers: an SFU output)")
    h264_profile: str = setting("baseline", "H.264 profile of broadcasts", choices=("baseline", "main"))
    h264_preset: str = setting("veryfast", "x264 speed preset of broadcasts", choices=X264_PRESETS)
    h264_threads: int = setting(1, "x264 threads per broadcast's encoder")
    h264_bitrate: int = setting(1_500_000, "H.264 bitrate of broadcasts (bit/s)")
    aac_bitrate: int = setting(64_000, "AAC bitrate of broadcasts (bit/s)")
    h264_keyframe_interval_s: float = setting(2.0, "a broadcast's H.264 keyframe interval (s)")
    output_buffer_s: float = setting(
        2.0, "encoded media an output may fall behind before it drops to the next keyframe (s)")
    output_retry_min_s: float = setting(0.5, "first wait before an output reconnects; doubled on each failure (s)")
    output_retry_max_s: float = setting(15.0, "longest wait between an output's reconnection attempts (s)")
    output_timeout_s: float = setting(5.0, "a pushed output's connection or write that stalls this long fails (s)")
    finalize_timeout_s: float = setting(
        300.0, "longest wait for a recording's MP4 index to be written (moved to the front of the file) at its end (s)")


@dataclass(frozen=True)
class PublishingSettings:
    """Broadcast outputs that publish over WebRTC to a media server (WHIP, Janus VideoRoom); their retries and
    request timeouts are the broadcast group's `output_retry_*` and `output_timeout_s`."""

    publish_connect_timeout_s: float = setting(
        15.0, "ICE and DTLS of a WHIP or Janus output must connect this soon after the media server answered (s)")
    janus_keepalive_s: float = setting(
        25.0, "keep-alive period of a Janus output's session (Janus drops a silent session after its "
        "session_timeout, 60 s by default) (s)")

    def __post_init__(self) -> None:
        if self.publish_connect_timeout_s <= 0 or self.janus_keepalive_s <= 0:
            raise ValueError("--publish-connect-timeout-s and --janus-keepalive-s must be positive")


@dataclass(frozen=True)
class TtsSettings:
    """How the default speech engine (`--tts`) is set up: a model or a speech service of your own."""

    tts_model: Path | None = setting(
        None, "a model of your own (piper: a voice .onnx with its .onnx.json; coqui: a model folder)")
    tts_rate: float = setting(1.0, "default speaking rate, relative to each voice's own")
    tts_engine_threads: int = setting(1, "native threads per synthesis (coqui: torch's, for the whole process)")
    tts_url: str | None = setting(None, "base URL of an OpenAI-compatible speech endpoint (openai)")
    tts_model_name: str | None = setting(None, "the model a speech service is asked for (openai: tts-1, kokoro, ...)")
    tts_voice: str | None = setting(None, "the engine's default voice (a speaker of the model, a service's voice)")
    tts_voices: tuple[str, ...] = setting((), "voices a speech service offers when it cannot list them (comma-separated)")
    tts_speaker_wav: Path | None = setting(None, "a recording of the voice to clone (coqui XTTS)")
    tts_language: str | None = setting(None, "language of a multilingual model, e.g. en (coqui XTTS)")
    tts_api_key_env: str = setting("TTS_API_KEY", "environment variable holding the speech service's API key")
    tts_sample_rate: int = setting(24000, "rate of raw PCM from a speech service (Hz)")
    tts_service_timeout_s: float = setting(
        10.0, "wait for a speech service (connect, each read) and a local model's time over one phrase (s)")


@dataclass(frozen=True)
class LlmSettings:
    """The LLM bridge: a `chat` message (or LiveTalking's /human with type chat) goes to an OpenAI-compatible
    /v1/chat/completions endpoint with the session's history, and the answer is spoken as it streams in."""

    llm_url: str | None = setting(
        None, "OpenAI-compatible endpoint: a base URL (http://host:8000/v1) or its /chat/completions; none = no chat")
    llm_model: str = setting("default", "model name sent with every request")
    llm_system: str | None = setting(None, "system prompt put before every conversation")
    llm_api_key_env: str = setting(
        "OPENAI_API_KEY", "environment variable holding the API key, sent as a bearer token (unset: no key)")
    llm_max_tokens: int | None = setting(None, "longest answer asked for, in tokens (none: the server's default)")
    llm_temperature: float | None = setting(None, "sampling temperature sent with requests (none: the server's)")
    llm_history_messages: int = setting(20, "earlier messages (user and assistant) sent along as the history")
    llm_queue_limit: int = setting(4, "chat messages a session may have waiting while an answer streams")
    llm_first_token_timeout_s: float = setting(
        30.0, "an answer whose first words take longer (connect included) fails with llm_failed (s)")
    llm_stall_timeout_s: float = setting(15.0, "an answer that stops arriving for this long fails with llm_failed (s)")

    def __post_init__(self) -> None:
        if self.llm_url is not None and urlsplit(self.llm_url).scheme not in ("http", "https"):
            raise ValueError(f"--llm-url must be an http:// or https:// URL, not {self.llm_url!r}")
        if self.llm_history_messages < 0 or self.llm_queue_limit < 0:
            raise ValueError("--llm-history-messages and --llm-queue-limit cannot be negative")


@dataclass(frozen=True)
class LiveTalkingSettings:
    """The LiveTalking-compatible routes (/offer, /human, /humanaudio, ...; docs/protocol.md)."""

    cors_origins: tuple[str, ...] = setting(
        ("*",), "origins whose pages may call the LiveTalking routes (repeatable; * = any)",
        repeat=True, flag="--cors-origin")
    max_upload_bytes: int = setting(20 * 1024 * 1024, "largest /humanaudio upload (bytes); larger: too_large")
    max_audio_s: float = setting(
        120.0, "seconds of uploaded audio a session may have waiting to be spoken; more: too_large")
    audio_chunk_s: float = setting(
        1.0, "uploaded audio goes to the face network in pieces this long, so its mouth is ready as it plays (s)")
    sse_heartbeat_s: float = setting(15.0, "an idle /sse stream gets a comment line this often (proxies keep it) (s)")


@dataclass(frozen=True)
class RenderSettings:
    """Where the tensor renderer draws (`--renderer torch`; README, "GPU")."""

    render_device: str = setting(
        "auto", "device of --renderer torch: auto (the first CUDA GPU, else the CPU), cpu, cuda or cuda:N")

    def __post_init__(self) -> None:
        if not _RENDER_DEVICE.fullmatch(self.render_device):
            raise ValueError(f"--render-device must be auto, cpu, cuda or cuda:N, not {self.render_device!r}")

    def renderer_options(self, threads: int, idle_motion_every: int = 1) -> RendererOptions:
        return RendererOptions(threads=threads, device=self.render_device, idle_motion_every=idle_motion_every)


_RENDER_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


@dataclass(frozen=True)
class SecuritySettings:
    """What clients may name, and how much of the server one client address may take (docs/security.md)."""

    avatar_dirs: tuple[Path, ...] = setting(
        (), "a folder of avatar bundles clients may name, or one bundle folder (repeatable)",
        repeat=True, flag="--avatar-dir")
    max_sessions_per_ip: int = setting(4, "open sessions one client address may hold; more get busy (1013)")
    connect_rate_per_min: float = setting(
        30.0, "websocket connections one client address may open per minute, on average; more get HTTP 429")
    connect_burst: int = setting(
        10, "websocket connections one client address may open at once before the rate applies")
    trusted_proxies: tuple[str, ...] = setting(
        (), "a reverse proxy (address or network) whose X-Forwarded-For names the client (repeatable)",
        repeat=True, flag="--trusted-proxy", metavar="ADDRESS")
    max_sdp_bytes: int = setting(16 * 1024, "largest SDP offer accepted (bytes); larger: too_large")
    max_ice_candidates: int = setting(
        32, "remote ICE candidates one session may give, in its offer and trickled together; more: too_large")
    max_body_bytes: int = setting(64 * 1024, "largest HTTP request body (bytes); larger: 413 too_large")

    def __post_init__(self) -> None:
        if min(self.max_sessions_per_ip, self.connect_burst, self.max_sdp_bytes, self.max_body_bytes) < 1:
            raise ValueError("--max-sessions-per-ip, --connect-burst, --max-sdp-bytes, --max-body-bytes: at least 1")
        if self.connect_rate_per_min <= 0:
            raise ValueError("--connect-rate-per-min must be positive")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"--trusted-proxy {entry!r} is neither an address nor a network") from None


# stun:host[:port], turn:host[:port][?transport=udp|tcp], turns:host[:port][?transport=tcp] (RFC 7064, RFC 7065);
# an IPv6 host in brackets.
ICE_URL = re.compile(
    r"(?P<scheme>stuns?|turns?):(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)


@dataclass(frozen=True)
class IceSettings:
    """STUN and TURN servers for NAT traversal, used by the server's own peers and handed to clients
    (GET /v1/ice-servers)."""

    ice_servers: tuple[str, ...] = setting(
        (), "a STUN or TURN server for both ends (repeatable): stun:host:port, turn:host:port?transport=udp, "
        "turns:host:port", repeat=True, flag="--ice-server")
    turn_user: str | None = setting(None, "username on the TURN servers (static credentials)")
    turn_password: str | None = setting(
        None, "password on the TURN servers (default: $AVATAR_TURN_PASSWORD)", env="AVATAR_TURN_PASSWORD")
    turn_secret: str | None = setting(
        None, "shared secret of the TURN servers' REST API, for time-limited credentials (coturn's "
        "static-auth-secret; default: $AVATAR_TURN_SECRET)", env="AVATAR_TURN_SECRET")
    turn_ttl_s: float = setting(86400.0, "how long a time-limited TURN credential stays valid (s)")
    ice_transport_policy: str = setting(
        "all", "relay: both ends use relayed (TURN) candidates only", choices=("all", "relay"))

    def __post_init__(self) -> None:
        for url in self.ice_servers:
            match = ICE_URL.fullmatch(url)
            if match is None:
                raise ValueError(f"--ice-server {url!r}: expected stun:host:port, turn:host:port?transport=udp "
                                 "or turns:host:port")
            if match["scheme"].startswith("stun") and match["transport"]:
                raise ValueError(f"--ice-server {url!r}: a STUN URL takes no transport")
        if (self.turn_user is None) != (self.turn_password is None):
            raise ValueError("--turn-user and --turn-password go together")
        if self.turn_secret is not None and self.turn_user is not None:
            raise ValueError("--turn-secret (time-limited credentials) or --turn-user/--turn-password, not both")
        has_turn = any(url.startswith("turn") for url in self.ice_servers)
        if has_turn and self.turn_secret is None and self.turn_user is None:
            raise ValueError("a TURN --ice-server needs --turn-user/--turn-password or --turn-secret")
        if self.ice_transport_policy == "relay" and not has_turn:
            raise ValueError("--ice-transport-policy relay needs a TURN --ice-server")
        if self.turn_ttl_s <= 0:
            raise ValueError("--turn-ttl-s must be positive")


@dataclass(frozen=True)
class IsolationSettings:
    """How a speech synthesis that hangs is kept from holding the speech of every other session."""

    tts_stall_s: float = setting(
        2.0, "a synthesis running this long frees its worker slot: a fresh thread serves the others (s)")
    tts_max_stalled: int = setting(
        8, "stalled synthesis threads at most; beyond, no fresh threads (an engine that hangs every call)")

    def __post_init__(self) -> None:
        if self.tts_stall_s <= 0 or self.tts_max_stalled < 0:
            raise ValueError("--tts-stall-s must be positive and --tts-max-stalled at least 0")


@dataclass(frozen=True)
class MemorySettings:
    """The C allocator of the process (glibc), set for many threads that run for days (server/allocator.py)."""

    malloc_arenas: int = setting(2, "malloc arenas shared by all threads (0: glibc's default, 8 per core)")
    malloc_trim_every_s: float = setting(60.0, "return freed heap memory to the system this often (s; 0: never)")

    def __post_init__(self) -> None:
        if self.malloc_arenas < 0:
            raise ValueError("--malloc-arenas must be at least 0")
        if self.malloc_trim_every_s < 0:
            raise ValueError("--malloc-trim-every-s must be at least 0")


def user_data_dir() -> Path:
    """The per-user data folder (XDG), on the local disk: works offline."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "avatar-server"


@dataclass(frozen=True)
class AvatarUploadSettings:
    """Avatars made from photos uploaded to POST /v1/avatars (docs/protocol.md, "Avatars")."""

    avatar_uploads: Path | None = setting(
        user_data_dir() / "avatars",
        "folder where uploaded photos become avatar bundles, which clients may name at once")
    avatar_prepare_nice: int = setting(
        10, "scheduling niceness of the process that prepares uploaded photos, below the live sessions'")

    def __post_init__(self) -> None:
        if not 0 <= self.avatar_prepare_nice <= 19:
            raise ValueError("--avatar-prepare-nice must be 0-19")


@dataclass(frozen=True)
class ServerConfig:
    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(8080, "one port for the page, /ws, /healthz, /metrics and the HTTP API")
    token: str | None = setting(
        None, "access token for /ws and /metrics (default: $AVATAR_TOKEN; none = open)", env="AVATAR_TOKEN")
    max_sessions: int = setting(8, "more sessions than this get busy (close code 1013)")
    admit_by_headroom: bool = setting(False, "also refuse new sessions while open ones render late frames")
    max_late_fraction: float = setting(0.01, "share of late frames above which --admit-by-headroom refuses")
    lateness_window_s: float = setting(5.0, "how far back the share of late frames is counted (s)")
    tts: str = setting("piper", "default speech engine", choices=ENGINES)
    tts_engines: tuple[str, ...] = setting(
        ("piper", "espeak"), "speech engines to load (repeatable; the default engine is always loaded)",
        repeat=True, flag="--tts-engine", choices=ENGINES)
    voice: str | None = setting(None, "default voice id, e.g. piper:joe or espeak:en-us")
    avatar: str = setting("astronaut", "default avatar: a registered bundle's name, or a bundle folder")
    renderer: str = setting("warp", "what draws the avatar", choices=RENDERERS)
    face_driver: str = setting(
        "network", "what moves the mouth: the audio-to-face network or the TTS phoneme timings",
        choices=("network", "phonemes"))
    face_backend: str = setting(
        "auto", "where the face network runs (auto: tensorrt, then cuda, then onnxruntime)", choices=BACKENDS)
    ice_hosts: tuple[str, ...] = setting(
        (), "offer only these host addresses as ICE candidates (repeatable; e.g. 127.0.0.1)",
        repeat=True, flag="--ice-host")
    client_dir: Path = setting(WEB_DIR, "folder of the browser page served at /")
    log_level: str = setting("INFO", "logging level")
    tts_setup: TtsSettings = field(default_factory=TtsSettings)
    limits: Limits = field(default_factory=Limits)
    media: MediaSettings = field(default_factory=MediaSettings)
    text: TextSettings = field(default_factory=TextSettings)
    voice_mode: VoiceSettings = field(default_factory=VoiceSettings)
    workers: Workers = field(default_factory=Workers)
    audio_input: AudioInputSettings = field(default_factory=AudioInputSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    livetalking: LiveTalkingSettings = field(default_factory=LiveTalkingSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    broadcast: BroadcastSettings = field(default_factory=BroadcastSettings)
    publishing: PublishingSettings = field(default_factory=PublishingSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    ice: IceSettings = field(default_factory=IceSettings)
    isolation: IsolationSettings = field(default_factory=IsolationSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    uploads: AvatarUploadSettings = field(default_factory=AvatarUploadSettings)
    scale: ScaleSettings = field(default_factory=ScaleSettings)

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError("--max-sessions must be at least 1")
