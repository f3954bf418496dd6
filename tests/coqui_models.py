"""Small Coqui models with random weights, built from their configs and saved as a user's model folder would be:
no Coqui weights can be downloaded here, and the engine's plumbing does not care what the weights say."""
from __future__ import annotations

import json
import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, models
from TTS.config.shared_configs import BaseAudioConfig
from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
from TTS.tts.configs.xtts_config import XttsConfig
from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
from TTS.tts.models.vits import Vits
from TTS.tts.models.xtts import Xtts, XttsArgs

VITS_RATE = 16000


def vits_folder(folder: Path, speakers: list[str] | None = None) -> Path:
    """A tiny VITS (1.3 M parameters, 16 kHz, characters in, no phonemizer); multi-speaker when `speakers` is given,
    with speakers.json beside the config and the config pointing elsewhere, as a model trained on another machine."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if speakers:
        (folder / "speakers.json").write_text(json.dumps({name: index for index, name in enumerate(speakers)}))
    speakers_file = "/trained/elsewhere/speakers.json" if speakers else None
    args = VitsArgs(
        hidden_channels=16, hidden_channels_ffn_text_encoder=32, num_layers_text_encoder=1, num_layers_flow=1,
        num_layers_posterior_encoder=1, resblock_type_decoder="2", upsample_initial_channel_decoder=16,
        resblock_kernel_sizes_decoder=[3], resblock_dilation_sizes_decoder=[[1, 3]], upsample_rates_decoder=[8, 8, 4],
        upsample_kernel_sizes_decoder=[16, 16, 8], init_discriminator=False, use_speaker_embedding=bool(speakers),
        speakers_file=speakers_file, speaker_embedding_channels=8,
    )
    config = VitsConfig(
        model_args=args, use_phonemes=False, text_cleaner="english_cleaners", use_speaker_embedding=bool(speakers),
        speakers_file=speakers_file,
        audio=BaseAudioConfig(sample_rate=VITS_RATE, hop_length=256, win_length=1024, fft_size=1024),
    )
    if speakers:  # the model is built from the folder's file; the saved config keeps the foreign path
        args.speakers_file = config.speakers_file = str(folder / "speakers.json")
    model = Vits(config)
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    args.speakers_file = config.speakers_file = speakers_file
    config.save_json(str(folder / "config.json"))
    return folder


def xtts_folder(folder: Path, audio_tokens: int = 12) -> Path:
    """A tiny XTTS v2 (a one-layer GPT of width 32; the fixed-size HiFi-GAN decoder and speaker encoder), with a
    character vocabulary. Its stop token is made unreachable, so every phrase is exactly `audio_tokens` tokens long."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    special = ["[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]"]
    symbols = special + list(string.ascii_lowercase + string.digits + ".,!?'-")
    tokenizer = Tokenizer(models.BPE(vocab={symbol: index for index, symbol in enumerate(symbols)}, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(special)
    tokenizer.save(str(folder / "vocab.json"))
    args = XttsArgs(
        gpt_layers=1, gpt_n_model_channels=32, gpt_n_heads=2, gpt_max_audio_tokens=audio_tokens, gpt_max_text_tokens=200,
        gpt_max_prompt_tokens=16, gpt_num_audio_tokens=66, gpt_start_audio_token=64, gpt_stop_audio_token=65,
        decoder_input_dim=32,
    )
    config = XttsConfig(model_args=args, languages=["en"])
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(str(folder / "vocab.json"))
    model.init_models()
    with torch.no_grad():
        model.gpt.mel_head.bias[args.gpt_stop_audio_token] = -1e4
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return folder
